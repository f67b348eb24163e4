"""A background sampler for live views: every few seconds, each version's rate, p95, errors and reward now."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from rolloutlab.errors import MetricsUnavailable
from rolloutlab.metrics.prometheus import PrometheusSource
from rolloutlab.metrics.queries import render_by_version

LIVE = ("rps", "p95_ms", "errors_per_s", "reward_per_s", "feedback_per_s")


class LiveSampler:
    """Queries Prometheus every `every_s` and hands ("live", {version: {metric: value}}) to on_event.

    Only for display: decisions never read from here (they read their own windows, through the engine)."""

    def __init__(self, source: PrometheusSource, on_event: Callable[[str, dict[str, Any]], None],
                 every_s: float = 2.0, window_s: float = 10.0) -> None:
        self.source = source
        self.on_event = on_event
        self.every_s = every_s
        self.window_s = window_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-sampler", daemon=True)

    def sample(self) -> dict[str, dict[str, float | None]]:
        versions: dict[str, dict[str, float | None]] = {}
        for name in LIVE:
            try:
                values = self.source.query_by(render_by_version(name, self.window_s), "version")
            except MetricsUnavailable:
                continue
            for version, value in values.items():
                versions.setdefault(version, {})[name] = None if math.isnan(value) else value
        return versions

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.on_event("live", {"versions": self.sample()})

    def start(self) -> LiveSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
