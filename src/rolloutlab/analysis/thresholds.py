"""Hold one measured value to one check's threshold: absolute or relative to a reference (pure)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rolloutlab.analysis.verdict import CheckResult, Verdict
from rolloutlab.metrics.queries import METRICS

if TYPE_CHECKING:
    from rolloutlab.analysis.checks import Check


def fmt(metric: str, value: float | None) -> str:
    """A metric's value in its unit, for people."""
    if value is None or math.isnan(value):
        return "no data"
    unit = METRICS[metric].unit
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "bytes":
        return f"{value / 1024:.1f} KiB"
    return f"{value:.1f} {unit}"


def _bound(check: Check, reference_version: str | None, reference: float | None) -> tuple[float | None, str]:
    """The threshold the value is held to, and how it was set."""
    m = check.metric
    if check.max is not None:
        return check.max, f"≤ {fmt(m, check.max)}"
    if check.min is not None:
        return check.min, f"≥ {fmt(m, check.min)}"
    if reference is None:
        return None, "relative to a reference with enough samples (none had)"
    if check.max_ratio is not None:
        allowed = max(reference * check.max_ratio, reference + check.tolerance)
        tolerance = f" or + {fmt(m, check.tolerance)}" if check.tolerance else ""
        return allowed, f"≤ {check.max_ratio:g} × {reference_version} ({fmt(m, reference)}){tolerance}"
    assert check.max_drop is not None
    return reference - check.max_drop, f"≥ {reference_version} ({fmt(m, reference)}) − {fmt(m, check.max_drop)}"


def judge(
    check: Check, *, version: str, query: str, value: float, samples: float, min_samples: int,
    reference_version: str | None, reference_value: float | None,
) -> CheckResult:
    """Inconclusive on too few samples, no data or no usable reference; else Failed past the bound, or Successful."""
    m = check.metric
    threshold, bound = _bound(check, reference_version, reference_value)

    def result(verdict: Verdict, message: str) -> CheckResult:
        return CheckResult(check.label, m, version, query, value, threshold, bound, samples, min_samples, verdict,
                           message, reference_value)

    if samples < min_samples:
        what = "labels arrived" if METRICS[m].samples == "feedback" else "requests"
        return result(Verdict.INCONCLUSIVE, f"{check.label}: {samples:.0f} {what} for {version}; need {min_samples}")
    if math.isnan(value):
        return result(Verdict.INCONCLUSIVE, f"{check.label}: no data for {version}")
    if threshold is None:
        return result(Verdict.INCONCLUSIVE, f"{check.label}: {fmt(m, value)}, but no reference to compare with")
    passed = value >= threshold if METRICS[m].higher_is_better else value <= threshold
    if passed:
        return result(Verdict.SUCCESSFUL, f"{check.label} {fmt(m, value)} ({bound})")
    return result(Verdict.FAILED, f"{check.label} {fmt(m, value)} breaks {bound}")
