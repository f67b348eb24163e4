"""Analysis checks as data: each names a metric (a PromQL template), a threshold and its minimum sample.

A threshold is one of four kinds, and which kinds fit depends on the metric's direction:
- absolute, `max` (lower is better: errors, latency, memory) or `min` (higher is better: accuracy, rps);
- relative to a reference version over the same window (or a recorded window of it):
  `max_ratio` (+ `tolerance` in the metric's unit) for lower-is-better metrics,
  `max_drop` (in the metric's unit) for higher-is-better metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rolloutlab.analysis.thresholds import judge
from rolloutlab.analysis.verdict import Assessment, Verdict, VersionMetrics, combine
from rolloutlab.metrics.queries import METRICS

MetricName = Literal["error_rate", "p50_ms", "p95_ms", "p99_ms", "accuracy", "memory_per_request", "rps",
                     "feature_drift", "prediction_drift", "attribution_ndcg", "estimated_accuracy"]
assert set(MetricName.__args__) == set(METRICS), "MetricName must list exactly the metrics of metrics/queries.py"

_KINDS = ("max", "min", "max_ratio", "max_drop")
_FITS = {False: ("max", "max_ratio"), True: ("min", "max_drop")}  # by higher_is_better


class Check(BaseModel):
    """One named check; `name` defaults to the metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: MetricName
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    max: float | None = None
    min: float | None = None
    max_ratio: float | None = Field(None, ge=1)
    max_drop: float | None = Field(None, ge=0)
    tolerance: float = Field(0.0, ge=0)
    min_samples: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_fitting_threshold(self) -> Check:
        given = [kind for kind in _KINDS if getattr(self, kind) is not None]
        definition = METRICS[self.metric]
        fits = _FITS[definition.higher_is_better]
        better = "higher" if definition.higher_is_better else "lower"
        if len(given) != 1:
            raise ValueError(f"give exactly one threshold for {self.metric} ({' or '.join(fits)}), got "
                             f"{', '.join(given) if given else 'none'}")
        if given[0] not in fits:
            raise ValueError(f"{given[0]} does not fit {self.metric} ({better} is better): use {' or '.join(fits)}")
        if self.tolerance and given[0] != "max_ratio":
            raise ValueError("tolerance only applies to max_ratio")
        return self

    @property
    def label(self) -> str:
        return self.name or self.metric

    @property
    def kind(self) -> str:
        return next(kind for kind in _KINDS if getattr(self, kind) is not None)

    @property
    def relative(self) -> bool:
        return self.kind in ("max_ratio", "max_drop")


def default_checks() -> list[Check]:
    """What an ML rollout is judged on unless the scenario says otherwise: errors, latency, model quality, memory."""
    return [
        Check(metric="error_rate", max=0.01),
        # 2× or + 25 ms: `rolloutlab simulate canary-basic` rolled a healthy v2 back in 9 % of runs at
        # 1.5× / + 10 ms (a 90-request p95 is noisy, and the buckets near 20 ms are 1.5× apart themselves);
        # at 2× / + 25 ms 0.7 %, while the slow build (+60 ms median) is still caught at 10 % every time.
        Check(metric="p95_ms", max_ratio=2.0, tolerance=25),
        Check(metric="accuracy", max_drop=0.03),
        # Measured: after the lab's 300-request warm-up a healthy server still grows up to ≈ 23 KiB per
        # request (allocator, caches; flat after ≈ 3,000 requests); the leaky build adds 64 KiB per request
        # on top of that, for ever (≥ 45 KiB of it visible in RSS).
        Check(metric="memory_per_request", max=40960),
    ]


@dataclass(frozen=True)
class Observed:
    """A version over one window: its basic metrics and the value (and query) of every checked metric."""

    metrics: VersionMetrics
    values: dict[str, float] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    # Sequential mode: requests at or below each latency bucket bound (seconds; inf = all), cumulative.
    at_most: dict[float, float] = field(default_factory=dict)

    def samples(self, metric: str) -> float:
        return self.metrics.feedback if METRICS[metric].samples == "feedback" else self.metrics.requests

    def to_dict(self) -> dict[str, object]:
        values = {k: (None if math.isnan(v) else v) for k, v in self.values.items()}
        return {**self.metrics.to_dict(), "checked": values}


def assess(
    checks: list[Check],
    judged: Observed,
    reference: Observed | None,
    fallback: Observed | None,
    min_requests: int,
    min_feedback: int,
) -> Assessment:
    """Judge `judged` on every check. A relative check compares with `reference` over the same window when
    the reference had enough samples there, else with `fallback` (a recorded window), else is Inconclusive."""
    results = []
    for check in checks:
        metric = check.metric
        needed = check.min_samples or (min_feedback if METRICS[metric].samples == "feedback" else min_requests)
        ref = None
        if check.relative:
            for candidate in (reference, fallback):
                if candidate is not None and candidate.samples(metric) >= needed \
                        and not math.isnan(candidate.values.get(metric, math.nan)):
                    ref = candidate
                    break
        results.append(judge(
            check, version=judged.metrics.version, query=judged.queries.get(metric, ""),
            value=judged.values.get(metric, math.nan), samples=judged.samples(metric), min_samples=needed,
            reference_version=ref.metrics.version if ref else None,
            reference_value=ref.values.get(metric) if ref else None,
        ))
    verdict = combine(tuple(results))
    shown = [r for r in results if r.verdict is not Verdict.SUCCESSFUL] or results
    return Assessment(verdict, tuple(r.message for r in shown), tuple(results), judged.metrics,
                      reference.metrics if reference else None)
