"""Judge a canary step: the candidate against the baseline over the same window (pure)."""

from __future__ import annotations

import math

from rolloutlab.analysis.verdict import Assessment, Verdict, VersionMetrics
from rolloutlab.scenario import Analysis


def assess_canary(candidate: VersionMetrics, baseline: VersionMetrics | None, limits: Analysis) -> Assessment:
    """Failed on errors or latency past the limits, Inconclusive on too little candidate traffic, else Successful.

    `baseline` is the most recent baseline window with traffic (at 100 % the baseline has none of its own).
    """
    judged = dict(candidate=candidate, baseline=baseline)
    if candidate.requests < limits.min_requests:
        return Assessment(
            Verdict.INCONCLUSIVE,
            (f"{candidate.version} had {candidate.requests:.0f} requests in {candidate.window_s:.0f}s; "
             f"need at least {limits.min_requests}",),
            **judged,
        )
    failures = []
    if candidate.error_rate > limits.max_error_rate:
        failures.append(f"error rate {candidate.error_rate:.2%} > {limits.max_error_rate:.2%}")
    if math.isnan(candidate.p95_ms):
        return Assessment(Verdict.INCONCLUSIVE, (f"no latency data for {candidate.version}",), **judged)
    if limits.max_p95_ms is not None and candidate.p95_ms > limits.max_p95_ms:
        failures.append(f"p95 {candidate.p95_ms:.1f} ms > {limits.max_p95_ms:.1f} ms")
    if baseline is not None and not math.isnan(baseline.p95_ms):
        allowed = max(baseline.p95_ms * limits.max_p95_ratio, baseline.p95_ms + limits.p95_tolerance_ms)
        if candidate.p95_ms > allowed:
            failures.append(
                f"p95 {candidate.p95_ms:.1f} ms > {allowed:.1f} ms allowed "
                f"(baseline {baseline.version} {baseline.p95_ms:.1f} ms × {limits.max_p95_ratio:g}, "
                f"or + {limits.p95_tolerance_ms:g} ms)"
            )
    if failures:
        return Assessment(Verdict.FAILED, tuple(failures), **judged)
    vs = f" vs {baseline.version} {baseline.p95_ms:.1f} ms" if baseline and not math.isnan(baseline.p95_ms) else ""
    return Assessment(
        Verdict.SUCCESSFUL,
        (f"{candidate.requests:.0f} requests, error rate {candidate.error_rate:.2%}, p95 {candidate.p95_ms:.1f} ms{vs}",),
        **judged,
    )
