"""Latency histograms as the model servers export them, and Prometheus' histogram_quantile over them.

The buckets are the model service's LATENCY_BUCKETS (models/service.py; a test checks they agree), and the
quantile replicates Prometheus' bucketQuantile (promql/quantile.go): find the bucket holding rank q·count
and interpolate linearly inside it; a rank in the +Inf bucket answers the highest finite bound; no
observations answer NaN. So a simulated p95 is computed exactly like a live one.
"""

from __future__ import annotations

import math

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


def quantiles_many(qs: tuple[float, ...], counts: np.ndarray) -> np.ndarray:
    """histogram_quantile for each q (0 < q < 1) over each row of counts (rows × buckets), vectorised:
    the same rule as histogram_quantile, row by row (a test holds them equal)."""
    cumulative = np.cumsum(counts, axis=1).astype(float)
    total = cumulative[:, -1]
    finite = len(LATENCY_BUCKETS)
    upper = np.array(LATENCY_BUCKETS)
    lower = np.concatenate([[0.0], upper[:-1]])
    out = np.full((counts.shape[0], len(qs)), np.nan)
    rows = np.arange(counts.shape[0])
    for j, q in enumerate(qs):
        rank = q * total
        reached = cumulative[:, :finite] >= rank[:, None]
        b = np.where(reached.any(axis=1), reached.argmax(axis=1), finite)
        inf = b == finite
        bb = np.minimum(b, finite - 1)
        below = np.where(bb > 0, cumulative[rows, np.maximum(bb - 1, 0)], 0.0)
        count = cumulative[rows, bb] - below
        with np.errstate(invalid="ignore", divide="ignore"):
            value = lower[bb] + (upper[bb] - lower[bb]) * ((rank - below) / count)
        out[:, j] = np.where(inf, upper[-1], value)
    out[total <= 0] = np.nan
    return out
