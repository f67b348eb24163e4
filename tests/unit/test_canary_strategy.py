from __future__ import annotations

import pytest

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.strategies.base import Outcome
from rolloutlab.strategies.canary import BASELINE_ALONE, Canary
from tests.unit.strategy_driver import drive

S, F, I, E = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR
PROMOTED, ROLLED_BACK = Outcome.PROMOTED, Outcome.ROLLED_BACK


def shares(verdicts: list[Verdict], failure_limit: int = 1, inconclusive_limit: int = 2,
           steps: tuple[int, ...] = (10, 50, 100)) -> tuple[list[int], Outcome | None]:
    canary = Canary("v1", "v2", steps, 5.0, failure_limit, inconclusive_limit)
    taken = drive(canary, verdicts)
    return [s.state.weights["v2"] for s in taken], taken[-1].outcome


@pytest.mark.parametrize(
    ("verdicts", "failure_limit", "inconclusive_limit", "expected"),
    [
        ([S, S, S], 1, 2, ([0, 10, 50, 100, 100], PROMOTED)),
        ([S, F], 1, 2, ([0, 10, 50, 0], ROLLED_BACK)),
        ([F, S, F], 2, 2, ([0, 10, 10, 50, 0], ROLLED_BACK)),
        ([I, S, S, S], 1, 2, ([0, 10, 10, 50, 100, 100], PROMOTED)),
        ([I, I], 1, 2, ([0, 10, 10, 0], ROLLED_BACK)),
        ([I, S, I, S, S], 1, 2, ([0, 10, 10, 50, 50, 100, 100], PROMOTED)),
        ([E, E], 1, 2, ([0, 10, 10, 0], ROLLED_BACK)),
    ],
    ids=["all-pass-promotes", "failure-rolls-back", "failure-limit-two", "inconclusive-holds-then-passes",
         "inconclusive-limit-rolls-back", "inconclusive-counter-resets-on-success", "metrics-errors-roll-back"],
)
def test_canary_decisions(verdicts, failure_limit, inconclusive_limit, expected) -> None:
    assert shares(verdicts, failure_limit, inconclusive_limit) == expected


def test_canary_first_records_the_baseline_alone_and_judges_nothing() -> None:
    first = Canary("v1", "v2", (10, 100), 5.0).first()
    assert first.state.weights == {"v1": 100, "v2": 0}
    assert first.record == ("v1", BASELINE_ALONE) and first.judge is None and first.hold_s == 5.0


def test_canary_judges_the_candidate_against_the_baseline_with_the_alone_window_as_fallback() -> None:
    steps = drive(Canary("v1", "v2", (10, 100), 5.0), [S, S])
    judged = [s.judge for s in steps if s.judge]
    assert {(j.version, j.reference, j.fallback) for j in judged} == {("v2", "v1", BASELINE_ALONE)}


def test_canary_promotes_after_last_step_even_below_100_percent() -> None:
    assert shares([S, S], steps=(5, 25)) == ([0, 5, 25, 100], PROMOTED)


def test_canary_failures_accumulate_across_steps() -> None:
    assert shares([F, S, S, F], failure_limit=2) == ([0, 10, 10, 50, 100, 0], ROLLED_BACK)


def test_every_canary_step_falls_back_to_the_baseline_alone() -> None:
    for step in drive(Canary("v1", "v2", (10, 50, 100), 5.0), [S, I, S, F])[:-1]:
        assert step.fallback.weights == {"v1": 100, "v2": 0}


def test_sequential_canary_looks_again_on_a_growing_window_until_conclusive() -> None:
    canary = Canary("v1", "v2", (10, 100), 5.0, look=1.0)
    taken = drive(canary, [I, I, S, S])
    judged = [s for s in taken if s.judge]
    assert [(s.state.weights["v2"], s.hold_s, s.window_s, s.sequential) for s in judged] == [
        (10, 1.0, 1.0, True), (10, 1.0, 2.0, True), (10, 1.0, 3.0, True), (100, 1.0, 1.0, True)]
    assert taken[-1].outcome is PROMOTED


def test_sequential_canary_rolls_back_when_nothing_is_conclusive_for_interval_times_the_limit() -> None:
    canary = Canary("v1", "v2", (10, 100), 2.0, inconclusive_limit=2, look=1.0)
    taken = drive(canary, [I, I, I, I])
    assert taken[-1].outcome is ROLLED_BACK and "4s" in taken[-1].reason
