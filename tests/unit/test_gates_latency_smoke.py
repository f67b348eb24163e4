"""The latency smoke gate: percentiles from answers, and p95/error judgement against the baseline."""

from __future__ import annotations

import pytest

from rolloutlab.gates.client import Answer
from rolloutlab.gates.latency_smoke import Latencies, confirm, judge, summarize
from rolloutlab.scenario.gates import LatencySmokeGate

GATE = LatencySmokeGate(requests=200, max_p95_ratio=1.5, tolerance_ms=10)


def lat(version: str, p50: float | None, p95: float | None, errors: int = 0, requests: int = 200,
        statuses: str = "") -> Latencies:
    return Latencies(version, requests, errors, p50, p95, statuses)


def test_percentiles_come_from_answered_requests_only() -> None:
    answers = [Answer(200, ms / 1000) for ms in range(1, 101)] + [Answer(503, 0.001)] * 3 + [Answer(0, 30.0)]
    measured = summarize("flaky", answers)
    assert (measured.requests, measured.errors, measured.answered) == (104, 4, 100)
    assert measured.p50_ms == pytest.approx(50.5) and measured.p95_ms == pytest.approx(95.05)
    assert measured.error_statuses == "timeout×1, 503×3"


def test_nothing_answered_has_no_percentiles() -> None:
    measured = summarize("down", [Answer(503, 0.001)] * 5)
    assert measured.p50_ms is None and measured.p95_ms is None and measured.error_rate == 1.0


@pytest.mark.parametrize(("gate", "candidate", "baseline", "passed", "summary"), [
    # slow against v1: p95 far beyond 1.5 × the baseline's
    (GATE, lat("slow", 71.8, 168.9), lat("v1", 4.4, 10.3), False,
     "p95 168.9 ms > 20.3 ms allowed (baseline v1 10.3 ms × 1.5, or + 10 ms)"),
    (GATE, lat("v2", 6.5, 15.6), lat("v1", 8.5, 22.0), True,
     "p50 6.5 ms vs v1 8.5 ms, p95 15.6 ms vs 22.0 ms (allowed 33.0 ms)"),
    # a fast baseline: the tolerance, not the ratio, sets the bound (2 ms × 1.5 would flag noise)
    (GATE, lat("v3", 3.0, 11.9), lat("v1", 1.0, 2.0), True, "(allowed 12.0 ms)"),
    (GATE, lat("v3", 3.0, 12.1), lat("v1", 1.0, 2.0), False, "p95 12.1 ms > 12.0 ms allowed"),
    (GATE.model_copy(update={"max_p95_ms": 15.0}), lat("v2", 6.5, 15.6), lat("v1", 8.5, 22.0), False,
     "p95 15.6 ms > 15 ms"),
    # flaky: latency is fine, its 503s are not
    (GATE, lat("flaky", 13.4, 35.1, errors=22, statuses="503×22"), lat("v1", 17.5, 31.8), False,
     "22 of 200 requests failed (503×22): error rate 11.0% > 0%"),
    (GATE.model_copy(update={"max_error_rate": 0.15}), lat("flaky", 13.4, 35.1, errors=22, statuses="503×22"),
     lat("v1", 17.5, 31.8), True, "22 of 200 failed"),
    (GATE, lat("cold", None, None, errors=200, statuses="503×200"), lat("v1", 4.0, 9.0), False,
     "candidate cold answered only 0 of 200: too few to measure latency"),
    (GATE, lat("v2", 4.0, 9.0), lat("v1", 4.0, 9.0, errors=190, statuses="503×190"), False,
     "baseline v1 answered only 10 of 200: too few to measure latency"),
])
def test_candidate_p95_and_errors_are_judged_against_the_baseline(
        gate: LatencySmokeGate, candidate: Latencies, baseline: Latencies, passed: bool, summary: str) -> None:
    result = judge(gate, baseline, candidate)
    assert result.name == "latency_smoke"
    assert result.passed is passed, result.summary
    assert summary in result.summary


def test_numbers_carry_both_versions_percentiles() -> None:
    result = judge(GATE, lat("v1", 4.4, 10.3), lat("slow", 71.8, 168.9))
    assert result.numbers["baseline_p50_ms"] == 4.4 and result.numbers["baseline_p95_ms"] == 10.3
    assert result.numbers["candidate_p50_ms"] == 71.8 and result.numbers["candidate_p95_ms"] == 168.9
    assert result.numbers["allowed_p95_ms"] == 20.3 and result.numbers["candidate_errors"] == 0


def answers(ms: list[float], status: int = 200) -> list[Answer]:
    return [Answer(status, m / 1000) for m in ms]


FAST = answers([5.0] * 190 + [9.0] * 10)  # p95 9 ms
NOISY = answers([5.0] * 180 + [30.0] * 20)  # one bad second: p95 30 ms
SLOW = answers([70.0] * 180 + [200.0] * 20)


def rounds_of(*scripted: tuple[list[Answer], list[Answer]]):  # noqa: ANN202 - a scripted measurement
    asked: list[int] = []

    def measure_round(index: int) -> tuple[list[Answer], list[Answer]]:
        asked.append(index)
        return scripted[index]
    return measure_round, asked


@pytest.mark.parametrize(("gate", "scripted", "passed", "rounds"), [
    (GATE, [(FAST, FAST)], True, 1),
    # one noisy round of the candidate, then a normal one: pooled p95 is back within the bound
    (GATE, [(FAST, NOISY), (FAST, FAST)], True, 2),
    (GATE, [(FAST, SLOW), (FAST, SLOW)], False, 2),
    (GATE.model_copy(update={"confirm_rounds": 0}), [(FAST, NOISY)], False, 1),
    # errors are not re-measured: a 503 is no scheduling noise
    (GATE, [(FAST, FAST[:180] + answers([1.0] * 20, status=503))], False, 1),
])
def test_a_p95_breach_is_confirmed_on_pooled_rounds_before_it_fails(
        gate: LatencySmokeGate, scripted: list, passed: bool, rounds: int) -> None:
    measure_round, asked = rounds_of(*scripted)
    result = confirm(gate, "v1", "v2", measure_round)
    assert result.passed is passed, result.summary
    assert asked == list(range(rounds)) and result.numbers["rounds"] == rounds
    if rounds > 1:
        assert result.summary.endswith(f"({rounds} rounds of 200 requests each, pooled)")
        assert result.numbers["requests_each"] == 200 * rounds
