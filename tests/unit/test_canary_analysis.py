from __future__ import annotations

import math

from rolloutlab.analysis.canary import assess_canary
from rolloutlab.analysis.verdict import Verdict, VersionMetrics
from rolloutlab.scenario import Analysis

LIMITS = Analysis(min_requests=50, max_error_rate=0.01, max_p95_ratio=1.5, p95_tolerance_ms=10)


def vm(version: str, requests: float, errors: float = 0, p95_ms: float = 5.0) -> VersionMetrics:
    return VersionMetrics(version, 15.0, requests, errors, p95_ms)


def test_healthy_candidate_is_successful() -> None:
    a = assess_canary(vm("v2", 100, 0, 6.0), vm("v1", 900, 0, 5.0), LIMITS)
    assert a.verdict is Verdict.SUCCESSFUL


def test_too_few_candidate_requests_is_inconclusive_not_a_pass() -> None:
    a = assess_canary(vm("v2", 49), vm("v1", 900), LIMITS)
    assert a.verdict is Verdict.INCONCLUSIVE
    assert "49 requests" in a.summary


def test_idle_candidate_is_inconclusive() -> None:
    assert assess_canary(vm("v2", 0, 0, math.nan), vm("v1", 900), LIMITS).verdict is Verdict.INCONCLUSIVE


def test_error_rate_above_limit_fails() -> None:
    a = assess_canary(vm("v2", 200, 3), vm("v1", 900), LIMITS)
    assert a.verdict is Verdict.FAILED
    assert "error rate 1.50% > 1.00%" in a.summary


def test_error_rate_at_limit_passes() -> None:
    assert assess_canary(vm("v2", 200, 2), vm("v1", 900), LIMITS).verdict is Verdict.SUCCESSFUL


def test_latency_ratio_and_tolerance_must_both_be_exceeded_to_fail() -> None:
    # 2x the baseline but only 5 ms more: within tolerance (idle p95s are noisy).
    assert assess_canary(vm("v2", 100, 0, 10.0), vm("v1", 900, 0, 5.0), LIMITS).verdict is Verdict.SUCCESSFUL
    # 60 ms vs 20 ms: 3x and 40 ms more.
    slow = assess_canary(vm("v2", 100, 0, 60.0), vm("v1", 900, 0, 20.0), LIMITS)
    assert slow.verdict is Verdict.FAILED
    assert "p95 60.0 ms > 30.0 ms allowed" in slow.summary


def test_absolute_p95_limit() -> None:
    limits = Analysis(max_p95_ms=50)
    assert assess_canary(vm("v2", 100, 0, 51.0), None, limits).verdict is Verdict.FAILED


def test_without_baseline_only_absolute_limits_apply() -> None:
    assert assess_canary(vm("v2", 100, 0, 500.0), None, LIMITS).verdict is Verdict.SUCCESSFUL
