"""The model server: one BentoML service, built once per version (the version is baked into the bento)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bentoml
import joblib
import numpy as np
from pydantic import Field

# Written into the build context by models/build.py: this bento serves exactly one version.
BUILD = json.loads((Path(__file__).parent / "build.json").read_text(encoding="utf-8"))
N_FEATURES = int(BUILD["n_features"])
MAX_BATCH = 64

# Fine buckets at the low end: a scikit-learn model answers in 1–5 ms and canary analysis compares p95s.
LATENCY_BUCKETS = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0]


class BadRequest(bentoml.exceptions.InvalidArgument):
    """Answered as HTTP 400 with the message in the JSON body."""


@bentoml.service(
    name=BUILD["service"],
    workers=1,
    traffic={"timeout": 30},
    metrics={"enabled": True, "namespace": "bentoml_service", "duration": {"buckets": LATENCY_BUCKETS}},
    labels={"model_version": BUILD["version"]},
)
class DigitsClassifier:
    model_ref = bentoml.models.BentoModel(BUILD["model_tag"])

    def __init__(self) -> None:
        self.model = joblib.load(self.model_ref.path_of("model.joblib"))
        self.version = BUILD["version"]

    @bentoml.api(route="/predict")
    def predict(self, instances: list[list[float]] = Field(min_length=1, max_length=MAX_BATCH)) -> dict:
        for index, row in enumerate(instances):
            if len(row) != N_FEATURES:
                raise BadRequest(f"instances[{index}] has {len(row)} features; expected {N_FEATURES}")
            if not all(math.isfinite(value) for value in row):
                raise BadRequest(f"instances[{index}] contains NaN or infinity")
        predictions = self.model.predict(np.asarray(instances, dtype=float))
        return {"predictions": [int(p) for p in predictions], "version": self.version}
