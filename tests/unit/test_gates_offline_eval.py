"""The offline evaluation gate's judgement: accuracy and macro-F1 drops against the limits."""

from __future__ import annotations

import pytest

from rolloutlab.gates.offline_eval import Scores, judge
from rolloutlab.scenario.gates import OfflineEvalGate

GATE = OfflineEvalGate(max_accuracy_drop=0.01, max_f1_drop=0.01)


def scores(version: str, accuracy: float, f1: float) -> Scores:
    return Scores(version, 540, accuracy, f1)


@pytest.mark.parametrize(("candidate", "baseline", "passed", "summary"), [
    # degraded against v1: both metrics fall far below the baseline's
    (scores("degraded", 0.785, 0.780), scores("v1", 0.944, 0.943), False,
     "accuracy 0.785 vs v1 0.944 (drop 0.159 > 0.010); macro-F1 0.780 vs v1 0.943 (drop 0.163 > 0.010) on 540"),
    (scores("v2", 0.994, 0.994), scores("v1", 0.944, 0.943), True, "accuracy 0.994 vs v1 0.944 (+0.050)"),
    (scores("v3", 0.935, 0.934), scores("v1", 0.944, 0.943), True, "accuracy 0.935 vs v1 0.944 (drop 0.009 ≤ 0.010)"),
    # exactly at the limit passes; the float subtraction (0.95 - 0.94 = 0.01000000000000009) must not fail it
    (scores("v3", 0.94, 0.94), scores("v1", 0.95, 0.95), True, "drop 0.010 ≤ 0.010"),
    (scores("v3", 0.939, 0.94), scores("v1", 0.95, 0.95), False, "accuracy 0.939 vs v1 0.950 (drop 0.011 > 0.010)"),
    # accuracy holds but one class is sacrificed: macro-F1 catches it
    (scores("v3", 0.944, 0.900), scores("v1", 0.944, 0.943), False, "macro-F1 0.900 vs v1 0.943 (drop 0.043 > 0.010)"),
])
def test_candidate_within_the_allowed_drop_passes(candidate: Scores, baseline: Scores, passed: bool,
                                                   summary: str) -> None:
    result = judge(GATE, baseline, candidate)
    assert result.name == "offline_eval"
    assert result.passed is passed
    assert summary in result.summary
    assert result.numbers["candidate_accuracy"] == candidate.accuracy
    assert result.numbers["baseline_f1"] == baseline.f1


def test_looser_limits_let_a_worse_candidate_pass() -> None:
    loose = OfflineEvalGate(max_accuracy_drop=0.2, max_f1_drop=0.2)
    assert judge(loose, scores("v1", 0.944, 0.943), scores("degraded", 0.785, 0.780)).passed


def test_numbers_carry_both_versions_and_the_drops() -> None:
    result = judge(GATE, scores("v1", 0.944, 0.943), scores("degraded", 0.785, 0.780))
    assert result.numbers == {
        "rows": 540, "baseline": "v1", "candidate": "degraded", "baseline_accuracy": 0.944,
        "candidate_accuracy": 0.785, "baseline_f1": 0.943, "candidate_f1": 0.780, "max_accuracy_drop": 0.01,
        "max_f1_drop": 0.01, "retries": 0, "accuracy_drop": 0.159, "f1_drop": 0.163,
    }


@pytest.mark.parametrize("role", ["candidate", "baseline"])
def test_a_version_that_could_not_be_scored_fails_the_gate_naming_it(role: str) -> None:
    broken = Scores("flaky", retries=2, problem="rows 64..127 answered HTTP 503 (after 3 attempts): {}")
    good = scores("v1", 0.944, 0.943)
    result = judge(GATE, good, broken) if role == "candidate" else judge(GATE, broken, good)
    assert not result.passed
    assert result.summary.startswith(f"{role} flaky could not be evaluated: rows 64..127 answered HTTP 503")
    assert result.numbers["retries"] == 2
