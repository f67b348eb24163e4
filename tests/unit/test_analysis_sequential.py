"""Sequential checks: conclusive either way before the minimum sample, the fixed rule (or no breach) after it."""

from __future__ import annotations

import math

from rolloutlab.analysis.checks import Check, Observed
from rolloutlab.analysis.sequential import assess_sequential, bucket_bounds, latency_bounds
from rolloutlab.analysis.verdict import Verdict, VersionMetrics
from rolloutlab.sim.histogram import LATENCY_BUCKETS

ERRORS = [Check(metric="error_rate", max=0.01)]
P95 = [Check(metric="p95_ms", max_ratio=2.0, tolerance=25)]
ACCURACY = [Check(metric="accuracy", max_drop=0.03)]


def seen(version: str, requests: float, errors: float = 0, p95: float = 10.0, feedback: float = 0, reward: float = 0,
         slow_share: float = 0.0) -> Observed:
    metrics = VersionMetrics(version, 10.0, requests, errors, p95, feedback=feedback, reward=reward)
    values = {"error_rate": errors / requests if requests else math.nan, "p95_ms": p95,
              "accuracy": reward / feedback if feedback else math.nan}
    # every request under 10 ms, but `slow_share` of them above 300 ms
    at_most = {le: requests * (1 - slow_share) if le < 0.3 else requests for le in LATENCY_BUCKETS}
    return Observed(metrics, values, {}, {**at_most, math.inf: requests})


def judge(checks: list[Check], candidate: Observed, baseline: Observed) -> tuple[Verdict, bool]:
    a = assess_sequential(checks, candidate, baseline, None, 50, 50, 0.01)
    return a.verdict, a.checks[0].conclusive


def test_a_flaky_candidate_fails_conclusively_before_its_minimum_sample() -> None:
    assert judge(ERRORS, seen("c", 30, errors=6), seen("b", 300)) == (Verdict.FAILED, True)


def test_one_error_in_a_few_requests_is_still_watching_not_a_verdict() -> None:
    assert judge(ERRORS, seen("c", 30, errors=1), seen("b", 300)) == (Verdict.INCONCLUSIVE, False)


def test_no_data_is_inconclusive_never_a_pass() -> None:
    assert judge(ERRORS, seen("c", 0), seen("b", 300))[0] is Verdict.INCONCLUSIVE


def test_at_the_minimum_sample_the_fixed_rule_decides_what_is_not_conclusive() -> None:
    assert judge(ERRORS, seen("c", 60), seen("b", 300)) == (Verdict.SUCCESSFUL, False)


def test_a_slow_candidate_breaks_the_latency_bound_after_a_handful_of_requests() -> None:
    verdict, conclusive = judge(P95, seen("c", 8, p95=320.0, slow_share=0.75), seen("b", 300, p95=12.0))
    assert (verdict, conclusive) == (Verdict.FAILED, True)


def test_a_fast_candidate_passes_latency_at_the_minimum_sample_without_a_breach() -> None:
    assert judge(P95, seen("c", 60, p95=9.0), seen("b", 300, p95=12.0))[0] is Verdict.SUCCESSFUL


def test_a_much_worse_model_fails_accuracy_conclusively_once_enough_labels_arrived() -> None:
    verdict, conclusive = judge(ACCURACY, seen("c", 400, feedback=400, reward=300), seen("b", 4000, feedback=4000,
                                                                                          reward=3760))
    assert (verdict, conclusive) == (Verdict.FAILED, True)


def test_latency_bounds_are_the_buckets_around_the_threshold_and_the_judge_asks_for_them() -> None:
    assert latency_bounds(45.0) == (0.03, 0.05)
    assert latency_bounds(50.0) == (0.05, 0.05)
    assert bucket_bounds(P95, seen("b", 300, p95=10.0), None) == {0.03, 0.05, math.inf}  # bound 35 ms
    assert bucket_bounds(ERRORS, seen("b", 300), None) == set()


def test_extrapolated_prometheus_counts_a_little_past_the_total_are_clamped_not_an_error() -> None:
    candidate = seen("c", 47.5)
    candidate = Observed(candidate.metrics, candidate.values, {}, {**candidate.at_most, math.inf: 47.4})
    assert judge(P95, candidate, seen("b", 300, p95=12.0))[0] is Verdict.INCONCLUSIVE  # 47 < 50: still looking
