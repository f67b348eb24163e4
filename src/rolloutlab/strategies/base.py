"""The Strategy contract: pure functions from what was measured to the next Step; the engine does all I/O.

A run is a sequence of Steps. Each Step is a full RoutingState to serve, how long to hold it, what to
judge at the end of the hold (a version against a reference, with the scenario's checks), and, once the
run is over, its Outcome. A Step also names the state to fall back to if the run is aborted while it
holds (the baseline for a canary; after a blue-green switch, the version that served before it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from rolloutlab.analysis.verdict import Assessment
from rolloutlab.stats.proportions import UserMoments
from rolloutlab.routing import RoutingState


class Outcome(str, Enum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    REJECTED = "rejected"  # stopped by a pre-deploy gate or a smoke test: no user ever saw the candidate
    WINNER = "winner"  # an experiment chose a version
    NO_WINNER = "no winner"
    PASSED = "passed"  # a shadow evaluation the candidate passed: users still on the baseline
    ABORTED = "aborted"


@dataclass(frozen=True)
class Judge:
    """What to assess at the end of a hold: `version` against `reference` over the hold's window.

    `fallback` names a recorded window (see Step.record) used when the reference had too little traffic
    in this one (a canary at 100 % compares with the baseline measured alone before the rollout).
    """

    version: str
    reference: str | None = None
    fallback: str | None = None


@dataclass(frozen=True)
class Probe:
    """Smoke requests the engine sends through the router before users see `version` (blue-green preview)."""

    version: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    state: RoutingState  # the full routing to serve during this step
    hold_s: float  # how long to serve it before observing
    label: str  # for progress lines and the journal, e.g. "step 2/3: v2 at 50%"
    phase: str  # e.g. "baseline", "canary", "smoke", "switch", "watch", "done"
    fallback: RoutingState  # where traffic goes if the run is aborted during this step
    judge: Judge | None = None
    record: tuple[str, str] | None = None  # (version, name): keep this window of `version` as `name`
    probe: Probe | None = None
    retire: tuple[str, ...] = ()  # versions to stop once this (final) step is in force
    switch_to: str | None = None  # an atomic switch: the engine times it until every new request reaches this
    guards: tuple[Judge, ...] = ()  # more versions judged at the end of the hold (A/B guardrails)
    tally: tuple[str, ...] = ()  # versions whose requests, labels and rewards are counted since tallying began
    compare: tuple[str, str] | None = None  # (baseline, shadow): join their prediction logs (agreement)
    notes: dict[str, Any] = field(default_factory=dict)  # strategy numbers for progress and the journal
    outcome: Outcome | None = None  # set on the last step: the run is over
    reason: str = ""
    memory: Any = None  # the strategy's own progress, handed back in history (opaque to the engine)
    # A sequential look judges everything since the step's routing took effect, not just this hold: the
    # window reaches back window_s seconds (None: the hold), and the judge uses the always-valid tests.
    window_s: float | None = None
    sequential: bool = False

    @property
    def final(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class Observation:
    """What the engine saw at the end of a step: the assessment of its Judge, and a probe's result."""

    elapsed_s: float
    assessment: Assessment | None = None
    probe: ProbeResult | None = None
    guards: dict[str, Assessment] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)
    agreement: dict[str, Any] | None = None


@dataclass(frozen=True)
class Tally:
    """One version's counts since tallying began (exact counter differences), and its users' sums."""

    requests: float
    feedback: float
    reward: float
    moments: UserMoments | None = None
    exposed_users: float = 0.0
    errors: float = 0.0  # requests answered 5xx: no answer, so no label; a lost reward


@dataclass(frozen=True)
class ProbeResult:
    passed: bool
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One step of the run's history and what was observed at its end."""

    step: Step
    observation: Observation


class Strategy(Protocol):
    # first returns the step the run begins with.
    def first(self) -> Step: ...

    # next returns the step after history[-1] (never called once a step is final). Pure.
    def next(self, history: tuple[Record, ...]) -> Step: ...
