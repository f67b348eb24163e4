"""Latency histograms as the model servers export them, and Prometheus' histogram_quantile over them.

The buckets are the model service's LATENCY_BUCKETS (models/service.py; a test checks they agree), and the
quantile replicates Prometheus' bucketQuantile (promql/quantile.go): find the bucket holding rank q·count
and interpolate linearly inside it; a rank in the +Inf bucket answers the highest finite bound; no
observations answer NaN. So a simulated p95 is computed exactly like a live one.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                                      0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = np.array(LATENCY_BUCKETS)


def bucket_counts(seconds: np.ndarray) -> np.ndarray:
    """Non-cumulative counts per bucket, the last one the +Inf bucket (len(LATENCY_BUCKETS) + 1 counts).

    Prometheus' `le` is inclusive: an observation equal to a bound lands in that bound's bucket."""
    return np.bincount(np.searchsorted(_BOUNDS, seconds, side="left"), minlength=len(_BOUNDS) + 1)


def histogram_quantile(q: float, counts: np.ndarray) -> float:
    """Prometheus' histogram_quantile(q, ...) over non-cumulative bucket counts (any common scale: rates too)."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    cumulative = np.cumsum(counts)
    observations = float(cumulative[-1])
    if observations <= 0:
        return math.nan
    rank = q * observations
    # The first finite bucket whose cumulative count reaches the rank (the +Inf bucket is searched apart).
    b = int(np.searchsorted(cumulative[:-1], rank, side="left"))
    if b == len(LATENCY_BUCKETS):
        return LATENCY_BUCKETS[-1]
    start, end, count = 0.0, LATENCY_BUCKETS[b], float(cumulative[b])
    if b > 0:
        start = LATENCY_BUCKETS[b - 1]
        count -= float(cumulative[b - 1])
        rank -= float(cumulative[b - 1])
    return start + (end - start) * (rank / count) if count else math.nan  # Go: 0/0 is NaN


def quantiles(qs: tuple[float, ...], counts: np.ndarray) -> list[float]:
    """histogram_quantile for several q over the same buckets (one cumulative sum)."""
    cumulative = np.cumsum(counts).tolist()
    observations = cumulative[-1]
    if observations <= 0:
        return [math.nan for _ in qs]
    out = []
    finite = len(LATENCY_BUCKETS)
    for q in qs:
        rank = q * observations
        b = bisect_left(cumulative, rank, 0, finite)
        if b == finite:
            out.append(LATENCY_BUCKETS[-1])
            continue
        start, end, count = 0.0, LATENCY_BUCKETS[b], cumulative[b]
        if b > 0:
            start = LATENCY_BUCKETS[b - 1]
            count -= cumulative[b - 1]
            rank -= cumulative[b - 1]
        out.append(start + (end - start) * (rank / count) if count else math.nan)
    return out
