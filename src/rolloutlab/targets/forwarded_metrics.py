"""Prometheus through a kubectl port-forward, re-established when it drops.

`kubectl port-forward` exits at the first stream error and never comes back by itself; without this
every later query failed and the run judged the candidate on errors that were the lab's. A query that
cannot reach Prometheus re-establishes the forward (on the same port) and asks once more; if that fails
too it raises MetricsUnavailable naming the component and since when it is unreachable, so the engine
can tell an infrastructure fault from a failing candidate.
"""

from __future__ import annotations

import time
import urllib.error
from typing import Protocol

from rolloutlab.errors import MetricsUnavailable, RolloutLabError
from rolloutlab.metrics.prometheus import PrometheusSource


class Forwards(Protocol):
    # reforward re-establishes one role's port-forward on its port, or raises a RolloutLabError.
    def reforward(self, role: str) -> str: ...


class ForwardedPrometheus(PrometheusSource):
    def __init__(self, base_url: str, forwards: Forwards, timeout: float = 5.0) -> None:
        super().__init__(base_url, timeout)
        self.forwards = forwards
        self.down_since: float | None = None  # epoch seconds of the first failure not yet recovered from
        self.reforwarded = 0

    def _get(self, path: str, params: dict[str, str], promql: str) -> list[dict]:
        try:
            result = super()._get(path, params, promql)
        except MetricsUnavailable as exc:
            if isinstance(exc.__cause__, urllib.error.HTTPError) or exc.__cause__ is None:
                raise  # Prometheus answered (a rejected query, a bad status): the forward works
            self.down_since = self.down_since or time.time()
            try:
                self.forwards.reforward("prometheus")
                self.reforwarded += 1
                result = super()._get(path, params, promql)
            except RolloutLabError as again:
                since = time.strftime("%H:%M:%S", time.localtime(self.down_since))
                raise MetricsUnavailable(
                    f"prometheus (through its port-forward at {self.base_url}) unreachable since {since} "
                    f"({time.time() - self.down_since:.0f}s): {again}") from None
        self.down_since = None
        return result
