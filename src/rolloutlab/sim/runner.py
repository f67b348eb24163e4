"""The simulated run loop: the real strategy (strategy_for) steps through a simulated world, as the engine would.

Mirrors Engine._steps / _run_step: the first step's routing is in force when load starts; a changed
routing takes `apply_s` to apply while the previous one keeps serving (outside any window); each hold is
one window; the judge, guards and recorded windows are assessed with the real `assess`; tallies are
counter differences since tallying began. A run is a generator that asks the world to serve and to
measure, so a batch of runs can be answered together (one numpy call for all of them). No sleeps, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rolloutlab.analysis.checks import Observed, assess
from rolloutlab.analysis.sequential import assess_sequential
from rolloutlab.analysis.verdict import Assessment, Verdict
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import BlueGreenScenario, ScenarioBase
from rolloutlab.sim.observe import observed, tally
from rolloutlab.sim.timeline import Timelines, VersionWindow
from rolloutlab.sim.world import World
from rolloutlab.strategies.base import Judge, Observation, ProbeResult, Record, Step, Strategy

MAX_STEPS = 1000  # a strategy that never finishes is a bug: stop it loudly instead of looping

# What a run asks of the world: ("serve", state, seconds) → (start, end); ("window", (start, end), versions) → windows
Ask = tuple[Any, ...]


@dataclass
class RunResult:
    """One simulated run: its outcome and the figures the summaries are made of."""

    outcome: str
    reason: str = ""
    winner: str | None = None  # the version serving everyone at the end (None for a split)
    elapsed_s: float = 0.0  # time to decision (load start to the final step)
    steps: int = 0
    bad_requests: float = 0.0  # answered by a version worse than the baseline, until the decision took effect
    bad_users: float = 0.0
    first_failure: int | None = None  # index (among judged windows) of the first Failed verdict
    first_candidate: float | None = None  # when the candidate first served users (s since load start)
    notes: dict[str, Any] = field(default_factory=dict)  # the final step's notes (A/B results, bandit regret)
    curve: list[tuple[float, float, float, float]] = field(default_factory=list)  # bandit: (t, regret, equal, requests)
    windows: list[dict[str, Any]] = field(default_factory=list)  # per judged step: verdict, share, check values


def _same_routing(a: RoutingState, b: RoutingState) -> bool:
    return (a.weights, a.rules, a.sticky, a.mirror) == (b.weights, b.rules, b.sticky, b.mirror)


def horizon_of(scenario: ScenarioBase) -> float:
    """Seconds of load to plan for (the timelines grow past it if a run holds longer)."""
    budget = getattr(getattr(scenario, "experiment", None), "max_duration", None) \
        or getattr(getattr(scenario, "bandit", None), "max_duration", None) or scenario.expected_seconds
    return float(budget) * 1.5 + 4 * scenario.analysis.interval + 30


class SimulatedRun:
    """One run's strategy and engine-side state; the world lives in a shared Timelines at row `run`."""

    def __init__(self, scenario: ScenarioBase, strategy: Strategy, world: World, timelines: Timelines,
                 run: int) -> None:
        self.scenario = scenario
        self.strategy = strategy
        self.world = world
        self.timelines = timelines
        self.run = run
        self.rng = timelines.rng
        self.recorded: dict[str, Observed] = {}
        self.tally_start: dict[str, dict[str, float]] | None = None
        self.elapsed = 0.0

    def _assess(self, judge: Judge, windows: dict[str, VersionWindow], hold: float, sequential: bool = False) -> Assessment:
        a = self.scenario.analysis
        judged = observed(judge.version, hold, windows[judge.version], a.checks, sequential)
        reference = observed(judge.reference, hold, windows[judge.reference], a.checks) if judge.reference else None
        fallback = self.recorded.get(judge.fallback) if judge.fallback else None
        if sequential:
            return assess_sequential(a.checks, judged, reference, fallback, a.min_requests, a.min_feedback, a.alpha)
        return assess(a.checks, judged, reference, fallback, a.min_requests, a.min_feedback)

    def _probe(self, step: Step) -> ProbeResult:
        """Blue-green smoke tests: held-out rows through the preview route, judged as the local target does."""
        s = self.scenario
        assert step.probe is not None and isinstance(s, BlueGreenScenario)
        model = self.world.versions[step.probe.version]
        n = s.smoke.requests
        answered = n - int(self.rng.binomial(n, model.error_rate))
        correct = int(self.rng.binomial(answered, model.reward_rate))
        p95 = float(np.quantile(model.latency.sample(self.rng, n), 0.95)) * 1000
        accuracy = correct / answered if answered else 0.0
        passed = answered == n and accuracy >= s.smoke.min_accuracy and p95 <= s.smoke.max_p95_ms
        return ProbeResult(passed, f"{answered}/{n} ok, accuracy {accuracy:.1%}, p95 {p95:.1f} ms",
                           {"accuracy": accuracy, "p95_ms": p95})

    def _agreement(self, step: Step) -> dict[str, Any]:
        """Shadow: both versions' answers to the same mirrored requests, errors taken as independent (both
        right agree; both wrong agree one time in nine — the other nine digits equally likely)."""
        base, shadow = step.compare or ("", "")
        a, b = self.world.versions[base].reward_rate, self.world.versions[shadow].reward_rate
        matched = self.timelines.mirrored_total(self.run, shadow)
        agree = int(self.rng.binomial(matched, a * b + (1 - a) * (1 - b) / 9)) if matched else 0
        return {"matched": matched, "agreement": agree / matched if matched else None, "labelled": matched,
                "baseline_accuracy": a, "candidate_accuracy": b, "accuracy_gap": a - b}

    def steps(self) -> Generator[Ask, Any, RunResult]:
        step = self.strategy.first()
        history: tuple[Record, ...] = ()
        previous: RoutingState | None = None
        result = RunResult("")
        decided = 0.0
        step_start = 0  # tick the current step's routing took effect (a sequential look judges from there)
        for _ in range(MAX_STEPS):
            if step.final:
                decided = self.elapsed
            if previous is not None and not _same_routing(previous, step.state) and self.world.apply_s > 0:
                # The old routing serves while the new one is applied (a rollback too: exposure counts it).
                yield ("serve", previous, self.world.apply_s)
                self.elapsed += round(self.world.apply_s)
            previous = step.state
            if step.final:
                break
            if step.tally and self.tally_start is None:
                self.tally_start = self.timelines.counters(self.run)
            span = yield ("serve", step.state, step.hold_s)
            self.elapsed += span[1] - span[0]
            if step.window_s is None or step.window_s <= step.hold_s:
                step_start = span[0]
            window = (step_start, span[1]) if step.sequential else span
            if result.first_candidate is None and step.judge and step.state.weights.get(step.judge.version, 0) > 0:
                result.first_candidate = self.elapsed - (span[1] - span[0])
            judges = ((step.judge,) if step.judge else ()) + step.guards
            wanted = {v for j in judges for v in (j.version, j.reference) if v}
            if step.record:
                wanted.add(step.record[0])
            windows = (yield ("window", window, wanted)) if wanted and span[1] > span[0] else {}
            judged_s = float(window[1] - window[0])
            assessment = self._assess(step.judge, windows, judged_s, step.sequential) if step.judge else None
            guards = {g.version: self._assess(g, windows, judged_s, step.sequential) for g in step.guards}
            if step.record:
                version, name = step.record
                self.recorded[name] = observed(version, step.hold_s, windows[version], self.scenario.analysis.checks)
            tallies = {}
            if step.tally:
                now = self.timelines.counters(self.run)
                moments, exposed = self.timelines.user_moments(self.run) if step.state.sticky else ({}, {})
                assert self.tally_start is not None
                tallies = {v: tally(now[v], self.tally_start[v], moments.get(v), exposed.get(v, 0.0))
                           for v in step.tally}
            if assessment is not None:
                self._window(result, step, assessment)
            observation = Observation(float(self.elapsed), assessment, self._probe(step) if step.probe else None,
                                      guards, tallies, self._agreement(step) if step.compare else None)
            history += (Record(step, observation),)
            step = self.strategy.next(history)
            if "regret" in step.notes:
                result.curve.append((float(self.elapsed), float(step.notes["regret"]),
                                     float(step.notes["equal_split_regret"]),
                                     float(sum(t.requests for t in tallies.values()))))
        else:
            raise RuntimeError(f"{self.scenario.name}: the strategy did not finish within {MAX_STEPS} steps")
        serving = [v for v, w in step.state.weights.items() if w > 0]
        result.outcome, result.reason = step.outcome.value if step.outcome else "", step.reason
        result.winner = serving[0] if len(serving) == 1 else None
        result.elapsed_s, result.steps, result.notes = decided, len(history), step.notes
        result.bad_requests, result.bad_users = self.timelines.bad_exposure(self.run)
        return result

    @staticmethod
    def _window(result: RunResult, step: Step, assessment: Assessment) -> None:
        assert step.judge is not None
        failed = [c.name for c in assessment.checks if c.verdict is Verdict.FAILED]
        share = step.state.weights.get(step.judge.version, 0) * 100 // max(1, step.state.total)
        result.windows.append({"verdict": assessment.verdict.value, "percent": share, "failed": failed,
                               "values": {c.name: c.value for c in assessment.checks},
                               "references": {c.name: c.reference for c in assessment.checks}})
        if failed and result.first_failure is None:
            result.first_failure = len(result.windows) - 1


def run_batch(scenario: ScenarioBase, strategy: Strategy, world: World, seed: int, runs: int,
              on_serve: Callable[[list[RoutingState]], None] | None = None) -> list[RunResult]:
    """`runs` seeded runs side by side: every round, all waiting runs are served and measured together.

    on_serve sees every routing state the runs serve (`run --check` collects what a strategy can apply)."""
    timelines = Timelines(world, np.random.default_rng(seed), horizon_of(scenario), runs)
    gens = [SimulatedRun(scenario, strategy, world, timelines, k).steps() for k in range(runs)]
    results: list[RunResult | None] = [None] * runs
    asks: dict[int, Ask] = {}
    for k, gen in enumerate(gens):
        asks[k] = next(gen)
    while asks:
        replies: dict[int, Any] = {}
        groups: dict[tuple[str, float], list[int]] = {}
        for k, ask in asks.items():
            key = (ask[0], float(round(ask[2])) if ask[0] == "serve" else float(ask[1][1] - ask[1][0]))
            groups.setdefault(key, []).append(k)
        for (kind, _), ks in groups.items():
            if kind == "serve":
                if on_serve is not None:
                    on_serve([asks[k][1] for k in ks])
                spans = timelines.serve(ks, [asks[k][1] for k in ks], asks[ks[0]][2])
                replies.update(zip(ks, spans))
            else:
                windows = timelines.window(ks, [asks[k][1] for k in ks], [asks[k][2] for k in ks])
                replies.update(zip(ks, windows))
        for k, reply in replies.items():
            try:
                asks[k] = gens[k].send(reply)
            except StopIteration as stop:
                results[k] = stop.value
                del asks[k]
    return [r for r in results if r is not None]


def simulate_runs(scenario: ScenarioBase, strategy: Strategy, world: World, seed: int, runs: int,
                  batch: int = 256, progress: Any = None) -> list[RunResult]:
    """`runs` runs in batches; the same seed, runs and batch size give the same results."""
    out: list[RunResult] = []
    seeds = np.random.SeedSequence(seed).spawn(math.ceil(runs / batch))
    for i, child in enumerate(seeds):
        size = min(batch, runs - i * batch)
        out.extend(run_batch(scenario, strategy, world, int(child.generate_state(1)[0]), size))
        if progress is not None:
            progress(size)
    return out
