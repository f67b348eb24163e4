"""Measure a version's traffic, errors, latency quantiles and feedback from a MetricsSource."""

from __future__ import annotations

import math

from rolloutlab.analysis.verdict import VersionMetrics
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.queries import render


def measure(source: MetricsSource, version: str, window_s: float) -> VersionMetrics:
    """Requests, 5xx errors, p50/p95/p99 (ms) and feedback of `version` over the last window_s seconds."""

    def count(name: str) -> float:
        value = source.query(render(name, version, window_s))
        return 0.0 if math.isnan(value) else value

    def ms(name: str) -> float:
        return source.query(render(name, version, window_s)) * 1000.0

    return VersionMetrics(
        version, window_s, requests=count("requests"), errors=count("errors"), p95_ms=ms("p95_seconds"),
        p50_ms=ms("p50_seconds"), p99_ms=ms("p99_seconds"), feedback=count("feedback"), reward=count("reward"),
    )
