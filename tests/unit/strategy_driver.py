"""Drive a pure strategy with canned verdicts and probe results, as the engine would (no I/O)."""

from __future__ import annotations

from rolloutlab.analysis.verdict import Assessment, Verdict
from rolloutlab.strategies.base import Observation, ProbeResult, Record, Step, Strategy


def drive(strategy: Strategy, verdicts: list[Verdict], probes: list[bool] | None = None) -> list[Step]:
    """Every step the strategy takes; each judged step consumes the next verdict, each probe the next result."""
    verdicts, probes = list(verdicts), list(probes or [])
    steps = [strategy.first()]
    history: tuple[Record, ...] = ()
    while not steps[-1].final:
        step = steps[-1]
        assessment = Assessment(verdicts.pop(0), ("canned",)) if step.judge else None
        probe = ProbeResult(probes.pop(0), "canned") if step.probe else None
        history += (Record(step, Observation(0.0, assessment, probe)),)
        steps.append(strategy.next(history))
        assert len(steps) < 100, "the strategy never ends"
    assert not verdicts and not probes, "the strategy ended before using every canned result"
    return steps
