"""Traffic of the simulated world: requests per second from the scenario's load shape, and its end users.

The offered rate comes from the same schedule classes Locust runs (loadtests/shapes): users at time t ×
rate_per_user (Locust's constant_throughput keeps each user at its rate, so a second carries that many
requests, not a Poisson draw). Every request draws its end user uniformly from the population, as the
seeded traffic plan (loadtests/loadgen/traffic.py) does; sticky routing pins each user to one version.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any

import numpy as np

from rolloutlab.scenario.load import LoadBase
from rolloutlab.paths import project_root


@lru_cache(maxsize=1)
def _shapes() -> Any:
    path = str(project_root() / "loadtests")
    if path not in sys.path:
        sys.path.insert(0, path)
    import shapes  # noqa: PLC0415 — the load generator's own schedules, not a copy

    return shapes


@lru_cache(maxsize=64)
def _rates(load: LoadBase, seconds: int) -> tuple[float, ...]:
    schedule = _shapes().make_schedule(load.shape_name, {**load.shape_params(), "users": load.users},
                                       clock=lambda: 0.0)
    return tuple(schedule.at(float(t))[0] * load.rate_per_user for t in range(seconds))


class Offered:
    """Requests per one-second tick from the load shape, with stochastic rounding of fractional rates."""

    def __init__(self, load: LoadBase, horizon_s: float, factor: float = 1.0) -> None:
        self.load = load
        self.rates = np.array(_rates(load, int(horizon_s) + 2)) * factor

    def ticks(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        """Requests in each tick of `rows` (any shape of tick indices)."""
        end = int(rows.max()) + 1
        if end > len(self.rates):  # past the planned horizon: the shape holds its last value
            self.rates = np.concatenate([self.rates, np.full(end - len(self.rates) + 60, self.rates[-1])])
        rate = self.rates[rows]
        whole = np.floor(rate)
        if np.all(whole == rate):
            return whole.astype(np.int64)
        return (whole + (rng.random(rate.shape) < rate - whole)).astype(np.int64)


def sticky_assignment(rng: np.random.Generator, population: int, shares: dict[str, int]) -> np.ndarray:
    """Each user's version index under sticky routing: a random hash of the user id, in proportion to shares."""
    weights = np.array(list(shares.values()), dtype=float)
    return rng.choice(len(weights), size=population, p=weights / weights.sum())


def user_rates(rng: np.random.Generator, population: int, rate: float, correlation: float) -> np.ndarray:
    """Each user's own reward rate: `rate` for all when correlation is 0 (rows drawn independently, as the
    live traffic plan does), else Beta-distributed around it with intra-user correlation `correlation`."""
    if correlation <= 0:
        return np.full(population, rate)
    k = (1 - correlation) / correlation
    return rng.beta(rate * k, (1 - rate) * k, size=population)
