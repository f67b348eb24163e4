"""Turn a simulated window into what the live engine builds from Prometheus: VersionMetrics, Observed, Tally.

The numbers go through the same types and the same judging code (analysis.checks.assess) as a live run's;
only their source differs. Each metric follows its PromQL definition in metrics/queries.py: ratios of
window counts, latency quantiles by histogram_quantile over the window's buckets, rps over the window's
whole seconds.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from rolloutlab.analysis.checks import Check, Observed
from rolloutlab.analysis.verdict import VersionMetrics
from rolloutlab.metrics.queries import render_metric, window
from rolloutlab.sim.histogram import LATENCY_BUCKETS
from rolloutlab.sim.timeline import VersionWindow
from rolloutlab.stats.proportions import UserMoments
from rolloutlab.strategies.base import Tally


@lru_cache(maxsize=4096)
def _query(metric: str, version: str, window_s: float) -> str:
    return render_metric(metric, version, window_s)


def _ms(w: VersionWindow) -> list[float]:
    return [1000.0 * q for q in w.quantiles_s]  # histogram_quantile over the window's buckets (NaN: none)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def observed(version: str, window_s: float, w: VersionWindow, checks: list[Check], buckets: bool = False) -> Observed:
    """The Observed a live `_observe` returns for this version and window (with `buckets`, the cumulative
    bucket counts a sequential look reads as well)."""
    p50, p95, p99 = _ms(w)
    metrics = VersionMetrics(version, window_s, w.requests, w.errors, p95, p50, p99, w.feedback, w.reward)
    seconds = float(window(window_s).removesuffix("s"))
    values = {
        "error_rate": _ratio(w.errors, w.requests), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
        "accuracy": _ratio(w.reward, w.feedback), "memory_per_request": _ratio(w.memory_growth, w.requests),
        "rps": w.requests / seconds,
    }
    at_most: dict[float, float] = {}
    if buckets and w.buckets is not None:
        cumulative = np.cumsum(w.buckets).astype(float)
        at_most = dict(zip((*LATENCY_BUCKETS, math.inf), cumulative.tolist()))
    return Observed(metrics, {c.metric: values[c.metric] for c in checks},
                    {c.metric: _query(c.metric, version, window_s) for c in checks}, at_most)


def tally(now: dict[str, float], start: dict[str, float], moments: UserMoments | None, exposed: float) -> Tally:
    """Counts since tallying began (exact counter differences), as the engine's `_tally` builds them."""
    return Tally(now["requests"] - start["requests"], now["feedback"] - start["feedback"],
                 now["reward"] - start["reward"], moments, exposed, now["errors"] - start["errors"])
