"""The simulated run loop: the real strategy (strategy_for) steps through a simulated world, as the engine would.

Mirrors Engine._steps / _run_step: the first step's routing is in force when load starts; a changed
routing takes `apply_s` to apply while the previous one keeps serving (outside any window); each hold is
one window; the judge, guards and recorded windows are assessed with the real `assess`; tallies are
counter differences since tallying began. Nothing here sleeps or does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rolloutlab.analysis.checks import Observed, assess
from rolloutlab.analysis.verdict import Assessment
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import BlueGreenScenario, ScenarioBase
from rolloutlab.sim.observe import observed, tally
from rolloutlab.sim.timeline import Timeline
from rolloutlab.sim.world import World
from rolloutlab.strategies.base import Judge, Observation, ProbeResult, Record, Step, Strategy

MAX_STEPS = 1000  # a strategy that never finishes is a bug: stop it loudly instead of looping


@dataclass
class RunResult:
    """One simulated run: its outcome and the figures the summaries are made of."""

    outcome: str
    reason: str
    winner: str | None  # the version serving everyone at the end (None for a split)
    elapsed_s: float  # time to decision (load start to the final step)
    steps: int
    bad_requests: float  # answered by a version worse than the baseline, before the decision
    bad_users: float
    first_failure_step: int | None = None  # index of the first judged step with a Failed verdict
    notes: dict[str, Any] = field(default_factory=dict)  # the final step's notes (A/B results, bandit regret)
    curve: list[tuple[float, float, float, float]] = field(default_factory=list)  # bandit: (t, regret, equal, reqs)
    windows: list[dict[str, Any]] = field(default_factory=list)  # per judged step: verdict and key numbers


def _same_routing(a: RoutingState, b: RoutingState) -> bool:
    return (a.weights, a.rules, a.sticky, a.mirror) == (b.weights, b.rules, b.sticky, b.mirror)


def horizon_of(scenario: ScenarioBase) -> float:
    """Seconds of load to plan for (the timeline grows past it if a run holds longer)."""
    budget = getattr(getattr(scenario, "experiment", None), "max_duration", None) \
        or getattr(getattr(scenario, "bandit", None), "max_duration", None) or scenario.expected_seconds
    return float(budget) * 1.5 + 4 * scenario.analysis.interval + 30


class SimulatedRun:
    def __init__(self, scenario: ScenarioBase, strategy: Strategy, world: World, seed: int) -> None:
        self.scenario = scenario
        self.strategy = strategy
        self.world = world
        self.rng = np.random.default_rng(seed)
        self.timeline = Timeline(world, self.rng, horizon_of(scenario))
        self.recorded: dict[str, Observed] = {}
        self.tally_start: dict[str, dict[str, float]] | None = None
        self.elapsed = 0.0

    def _counters(self) -> dict[str, dict[str, float]]:
        c = self.timeline.counters()
        return {n: {k: float(v[i]) for k, v in c.items()} for i, n in enumerate(self.timeline.names)}

    def _assess(self, judge: Judge, windows: dict, hold: float) -> Assessment:
        a = self.scenario.analysis
        judged = observed(judge.version, hold, windows[judge.version], a.checks)
        reference = observed(judge.reference, hold, windows[judge.reference], a.checks) if judge.reference else None
        fallback = self.recorded.get(judge.fallback) if judge.fallback else None
        return assess(a.checks, judged, reference, fallback, a.min_requests, a.min_feedback)

    def _probe(self, step: Step) -> ProbeResult:
        """Blue-green smoke tests: held-out rows through the preview route, judged as the target's hook does."""
        s = self.scenario
        assert step.probe is not None and isinstance(s, BlueGreenScenario)
        model = self.world.versions[step.probe.version]
        n = s.smoke.requests
        answered = n - int(self.rng.binomial(n, model.error_rate))
        correct = int(self.rng.binomial(answered, model.reward_rate))
        p95 = float(np.quantile(model.latency.sample(self.rng, n), 0.95)) * 1000 if n else math.nan
        accuracy = correct / answered if answered else 0.0
        passed = answered == n and accuracy >= s.smoke.min_accuracy and p95 <= s.smoke.max_p95_ms
        return ProbeResult(passed, f"{answered}/{n} ok, accuracy {accuracy:.1%}, p95 {p95:.1f} ms",
                           {"accuracy": accuracy, "p95_ms": p95})

    def _agreement(self, step: Step, start: int, end: int) -> dict[str, Any]:
        """Shadow: answers of both versions to the same mirrored requests; errors modelled as independent
        (both right → agree; both wrong → agree one time in nine, the other nine digits being equally likely)."""
        base, shadow = step.compare or ("", "")
        a, b = self.world.versions[base].reward_rate, self.world.versions[shadow].reward_rate
        matched = int(self.timeline.mirrored[:end, self.timeline.index[shadow]].sum())
        agree = int(self.rng.binomial(matched, a * b + (1 - a) * (1 - b) / 9)) if matched else 0
        labelled = matched
        return {"matched": matched, "agreement": agree / matched if matched else None, "labelled": labelled,
                "baseline_accuracy": a, "candidate_accuracy": b, "accuracy_gap": a - b}

    def run(self) -> RunResult:
        step = self.strategy.first()
        history: tuple[Record, ...] = ()
        previous: RoutingState | None = None
        result = RunResult("", "", None, 0.0, 0, 0.0, 0.0)
        decided = 0.0
        for index in range(MAX_STEPS):
            if step.final:
                decided = self.elapsed
            if previous is not None and not _same_routing(previous, step.state) and self.world.apply_s > 0:
                # The old routing serves while the new one is applied (a rollback too: exposure counts it).
                self.timeline.serve(previous, self.world.apply_s)
                self.elapsed += round(self.world.apply_s)
            previous = step.state
            if step.final:
                break
            if step.tally and self.tally_start is None:
                self.tally_start = self._counters()
            start, end = self.timeline.serve(step.state, step.hold_s)
            self.elapsed += end - start
            wanted = {v for j in ((step.judge,) if step.judge else ()) + step.guards
                      for v in (j.version, j.reference) if v}
            if step.record:
                wanted.add(step.record[0])
            windows = self.timeline.window(start, end, wanted) if wanted else {}
            assessment = self._assess(step.judge, windows, step.hold_s) if step.judge else None
            guards = {g.version: self._assess(g, windows, step.hold_s) for g in step.guards}
            if step.record:
                version, name = step.record
                self.recorded[name] = observed(version, step.hold_s, windows[version], self.scenario.analysis.checks)
            probe = self._probe(step) if step.probe else None
            tallies = {}
            if step.tally:
                now = self._counters()
                moments, exposed = self.timeline.user_moments() if step.state.sticky else ({}, {})
                assert self.tally_start is not None
                tallies = {v: tally(now[v], self.tally_start[v], moments.get(v), exposed.get(v, 0.0))
                           for v in step.tally}
            agreement = self._agreement(step, start, end) if step.compare else None
            if assessment is not None:
                verdict = assessment.verdict.value
                result.windows.append({"step": index, "verdict": verdict, "percent": step.state.weights.get(
                    step.judge.version, 0) if step.judge else None, "checks": {c.name: c.value for c in assessment.checks},
                    "failed": [c.name for c in assessment.checks if c.verdict.value == "Failed"]})
                if verdict == "Failed" and result.first_failure_step is None:
                    result.first_failure_step = len(result.windows) - 1
            observation = Observation(float(self.elapsed), assessment, probe, guards, tallies, agreement)
            history += (Record(step, observation),)
            step = self.strategy.next(history)
            if "regret" in step.notes:
                result.curve.append((float(self.elapsed), float(step.notes["regret"]),
                                     float(step.notes["equal_split_regret"]),
                                     float(sum(t.requests for t in tallies.values()))))
        else:
            raise RuntimeError(f"{self.scenario.name}: the strategy did not finish within {MAX_STEPS} steps")
        bad_requests, bad_users = self.timeline.bad_exposure()
        serving = [v for v, w in step.state.weights.items() if w > 0]
        result.outcome, result.reason = step.outcome.value if step.outcome else "", step.reason
        result.winner = serving[0] if len(serving) == 1 else None
        result.elapsed_s, result.steps = decided, len(history)
        result.bad_requests, result.bad_users = bad_requests, bad_users
        result.notes = step.notes
        return result


def simulate_run(scenario: ScenarioBase, strategy: Strategy, world: World, seed: int) -> RunResult:
    """One seeded run of `strategy` in `world` (the same seed gives the same run)."""
    return SimulatedRun(scenario, strategy, world, seed).run()
