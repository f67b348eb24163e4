"""The prediction user: posts held-out digits rows to the router at a steady per-user rate.

Configured by the environment the lab sets: ROLLOUTLAB_HOLDOUT (JSON rows), ROLLOUTLAB_RATE_PER_USER
(requests per second per user), ROLLOUTLAB_SEED (same seed, same rows in the same order).
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import FastHttpUser, constant_throughput, task

ROWS = json.load(open(os.environ["ROLLOUTLAB_HOLDOUT"], encoding="utf-8"))
RATE = float(os.environ.get("ROLLOUTLAB_RATE_PER_USER", "5"))
SEED = int(os.environ.get("ROLLOUTLAB_SEED", "42"))
_user_ids = itertools.count()


class PredictionUser(FastHttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.user_id = next(_user_ids)
        order = list(range(len(ROWS)))
        random.Random(SEED * 100_003 + self.user_id).shuffle(order)
        self.rows = itertools.cycle(order)

    @task
    def predict(self) -> None:
        row = ROWS[next(self.rows)]
        with self.client.post(
            "/predict", json={"instances": [row["features"]]}, name="/predict", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                response.json()["version"]
            except (ValueError, KeyError, TypeError):
                response.failure("response names no model version")
                return
            response.success()
