"""Canary: walk the candidate through increasing traffic steps; roll back on failure or lasting doubt."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.strategies.action import Action, Kind


@dataclass(frozen=True)
class CanaryProgress:
    step: int = 0  # index into steps of the split being analysed
    failures: int = 0  # failed analyses so far
    inconclusive: int = 0  # inconclusive (or unreadable) analyses in a row


def first_step(steps: list[int]) -> Action:
    return Action(Kind.ADVANCE, steps[0], f"start canary at {steps[0]}%")


def decide(
    steps: list[int], progress: CanaryProgress, verdict: Verdict, failure_limit: int, inconclusive_limit: int
) -> tuple[Action, CanaryProgress]:
    """The next action after the analysis of steps[progress.step] returned `verdict`."""
    current = steps[progress.step]
    if verdict is Verdict.SUCCESSFUL:
        if progress.step + 1 == len(steps):
            return Action(Kind.PROMOTE, 100, f"all {len(steps)} steps passed"), replace(progress, inconclusive=0)
        nxt = progress.step + 1
        return (
            Action(Kind.ADVANCE, steps[nxt], f"{current}% passed"),
            replace(progress, step=nxt, inconclusive=0),
        )
    if verdict is Verdict.FAILED:
        failures = progress.failures + 1
        progress = replace(progress, failures=failures, inconclusive=0)
        if failures >= failure_limit:
            return Action(Kind.ROLLBACK, 0, f"{failures} failed analysis(es) at {current}% (limit {failure_limit})"), progress
        return Action(Kind.HOLD, current, f"failed analysis {failures}/{failure_limit} at {current}%"), progress
    inconclusive = progress.inconclusive + 1
    progress = replace(progress, inconclusive=inconclusive)
    if inconclusive >= inconclusive_limit:
        return (
            Action(Kind.ROLLBACK, 0, f"{inconclusive} inconclusive analyses in a row at {current}% (limit {inconclusive_limit})"),
            progress,
        )
    return Action(Kind.HOLD, current, f"{verdict.value.lower()} analysis {inconclusive}/{inconclusive_limit} at {current}%"), progress
