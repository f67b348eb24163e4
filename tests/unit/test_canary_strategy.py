from __future__ import annotations

import pytest

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.strategies.action import Kind
from rolloutlab.strategies.canary import CanaryProgress, decide, first_step

STEPS = [10, 50, 100]
S, F, I, E = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR


def run(verdicts: list[Verdict], failure_limit: int = 1, inconclusive_limit: int = 2) -> list[tuple[Kind, int]]:
    """Feed verdicts one by one from the first step; return the actions taken."""
    progress = CanaryProgress()
    actions = [(first_step(STEPS).kind, first_step(STEPS).candidate_percent)]
    for verdict in verdicts:
        action, progress = decide(STEPS, progress, verdict, failure_limit, inconclusive_limit)
        actions.append((action.kind, action.candidate_percent))
        if action.kind.final:
            break
    return actions


@pytest.mark.parametrize(
    ("verdicts", "failure_limit", "inconclusive_limit", "expected"),
    [
        ([S, S, S], 1, 2, [(Kind.ADVANCE, 10), (Kind.ADVANCE, 50), (Kind.ADVANCE, 100), (Kind.PROMOTE, 100)]),
        ([S, F], 1, 2, [(Kind.ADVANCE, 10), (Kind.ADVANCE, 50), (Kind.ROLLBACK, 0)]),
        ([F, S, F], 2, 2, [(Kind.ADVANCE, 10), (Kind.HOLD, 10), (Kind.ADVANCE, 50), (Kind.ROLLBACK, 0)]),
        ([I, S, S, S], 1, 2, [(Kind.ADVANCE, 10), (Kind.HOLD, 10), (Kind.ADVANCE, 50), (Kind.ADVANCE, 100), (Kind.PROMOTE, 100)]),
        ([I, I], 1, 2, [(Kind.ADVANCE, 10), (Kind.HOLD, 10), (Kind.ROLLBACK, 0)]),
        ([I, S, I, S, S], 1, 2, [(Kind.ADVANCE, 10), (Kind.HOLD, 10), (Kind.ADVANCE, 50), (Kind.HOLD, 50),
                                 (Kind.ADVANCE, 100), (Kind.PROMOTE, 100)]),
        ([E, E], 1, 2, [(Kind.ADVANCE, 10), (Kind.HOLD, 10), (Kind.ROLLBACK, 0)]),
    ],
    ids=["all-pass-promotes", "failure-rolls-back", "failure-limit-two", "inconclusive-holds-then-passes",
         "inconclusive-limit-rolls-back", "inconclusive-counter-resets-on-success", "metrics-errors-roll-back"],
)
def test_canary_decisions(verdicts, failure_limit, inconclusive_limit, expected) -> None:
    assert run(verdicts, failure_limit, inconclusive_limit) == expected


def test_canary_promotes_after_last_step_even_below_100_percent() -> None:
    action, _ = decide([5, 25], CanaryProgress(step=1), Verdict.SUCCESSFUL, 1, 2)
    assert (action.kind, action.candidate_percent) == (Kind.PROMOTE, 100)


def test_canary_failures_accumulate_across_steps() -> None:
    progress = CanaryProgress(step=1, failures=1)
    action, progress = decide(STEPS, progress, Verdict.FAILED, failure_limit=2, inconclusive_limit=2)
    assert action.kind is Kind.ROLLBACK
    assert progress.failures == 2
