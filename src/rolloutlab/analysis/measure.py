"""Measure a version's requests, errors and p95 latency from a MetricsSource."""

from __future__ import annotations

import math

from rolloutlab.analysis.verdict import VersionMetrics
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.queries import render


def measure(source: MetricsSource, version: str, window_s: float) -> VersionMetrics:
    """Requests, 5xx errors and p95 (ms) of `version` over the last window_s seconds."""
    requests = source.query(render("requests", version, window_s))
    errors = source.query(render("errors", version, window_s))
    p95_s = source.query(render("p95_seconds", version, window_s))
    requests = 0.0 if math.isnan(requests) else requests
    errors = 0.0 if math.isnan(errors) else errors
    return VersionMetrics(version, window_s, requests, errors, p95_s * 1000.0)
