"""The experiment engine: carries out any strategy's Steps (apply, hold, observe, journal) and every abort.

Strategies are pure; this is where the I/O lives. It knows nothing of NGINX or Kubernetes: a
TrafficRouter, a MetricsSource, a load runner and a few target hooks are all it touches, so the local
and the Kubernetes targets run the same engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rolloutlab.analysis.checks import Check, Observed, assess
from rolloutlab.analysis.measure import measure
from rolloutlab.analysis.sequential import assess_sequential, bucket_bounds
from rolloutlab.analysis.verdict import Assessment, Verdict
from rolloutlab import interrupts
from rolloutlab.errors import InfrastructureFault, MetricsUnavailable, RolloutLabError
from rolloutlab.faults import Fault, Watch, classify, describe
from rolloutlab.gates.result import GateResult
from rolloutlab.scenario.gates import Gates
from rolloutlab.journal import Journal
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.queries import (
    COUNTERS,
    USER_MOMENTS,
    render_bucket,
    render_counter,
    render_metric,
    render_router_errors,
    render_user_moment,
)
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import ScenarioBase
from rolloutlab.stats.proportions import UserMoments
from rolloutlab.strategies.base import Judge, Observation, Outcome, Probe, ProbeResult, Record, Step, Strategy, Tally

Progress = Callable[[str], None]
# Structured progress for live views: (kind, data), kind a journal event name (data: the record as written),
# "hold" (a step starts holding: label, phase, seconds) or "message" (the text plain progress prints).
OnEvent = Callable[[str, dict[str, Any]], None]


class LoadStopped(RolloutLabError):
    """The load generator exited before the rollout finished."""


class Load(Protocol):
    # start begins sending load and returns a record with the load process' pid.
    def start(self) -> object: ...

    # alive is False once the load generator has exited.
    def alive(self) -> bool: ...

    # stop ends the load generator (idempotent).
    def stop(self) -> None: ...


class Hooks(Protocol):
    """What the engine asks of the target beyond routing and metrics (each may be a no-op)."""

    # smoke sends probe requests through the router (with probe.headers) and judges the answers.
    def smoke(self, probe: Probe) -> ProbeResult: ...

    # time_switch measures, after an atomic switch, how long until every new request reaches `version`.
    def time_switch(self, version: str, applied_at: float) -> dict[str, float | None]: ...

    # retire stops a version that no longer serves (blue after a passed watch window).
    def retire(self, version: str) -> str: ...

    # gates runs the pre-deploy gates of `candidate` against `baseline` on their own servers (not the router).
    def gates(self, gates: Gates, baseline: str, candidate: str) -> list[GateResult]: ...

    # agreement joins two versions' answers to the same (mirrored) requests made since `since` (epoch s).
    def agreement(self, baseline: str, shadow: str, since: float) -> dict[str, object]: ...


@dataclass
class RunOutcome:
    outcome: str  # an Outcome value
    reason: str
    final_weights: dict[str, int]
    analyses: int = 0
    interrupted: bool = False
    rollback_failed: bool = False  # the abort could not put traffic on the fallback: the reason says where it is
    assessments: list[Assessment] = field(default_factory=list)


class Engine:
    """Runs one scenario's strategy. Every exit path leaves traffic on the step's fallback state."""

    def __init__(
        self,
        scenario: ScenarioBase,
        strategy: Strategy,
        router: TrafficRouter,
        metrics: MetricsSource,
        journal: Journal,
        load: Load | None = None,
        hooks: Hooks | None = None,
        progress: Progress = lambda _: None,
        sleep: Callable[[float], None] = time.sleep,
        run_label: str | None = None,
        on_event: OnEvent | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.scenario = scenario
        self.run_label = run_label  # the `run` label of this run's load-generator metrics
        self.strategy = strategy
        self.router = router
        self.metrics = metrics
        self.journal = journal
        self.load = load
        self.hooks = hooks
        self.progress = progress
        self.sleep = sleep
        self.on_event = on_event
        self.watch = watch  # the target's view of its own processes; None: only Prometheus and the load are checked
        self.gone: dict[str, Fault] = {}  # candidates whose server went away mid-run
        self.retired: set[str] = set()  # versions stopped on purpose (blue after a blue-green)
        self.started = time.monotonic()
        self.recorded: dict[str, Observed] = {}  # windows a strategy asked to keep, by name
        self.tally_start: dict[str, dict[str, float]] = {}  # counter values when tallying began
        self.compare_since: float | None = None  # wall time the first shadow window began
        self.looks_since = time.monotonic()  # when the current step's sequential looks began
        self.fallback: RoutingState = RoutingState({scenario.versions.baseline: 100}, reason="abort")

    # --- helpers -------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _say(self, message: str) -> None:
        elapsed = self._elapsed()
        text = f"[{int(elapsed // 60)}:{int(elapsed % 60):02d}] {message}"
        self.progress(text)
        self._emit("message", {"text": text})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, data)
        except Exception as exc:  # a broken view must never stop a rollout half-way: drop the view, keep going
            self.on_event = None
            self.journal.write("error", message=f"live view stopped: {exc!r}")

    def _write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Journal one event, then tell a live view (after the journal: a view never sees what was not recorded)."""
        record = self.journal.write(event, **fields)
        self._emit(event, record)
        return record

    def _apply(self, state: RoutingState, phase: str) -> RoutingState:
        applied = self.router.apply(state)
        self._write("routing_applied", generation=applied.generation, weights=applied.weights,
                           reason=state.reason, phase=phase, routing=applied.to_dict())
        return applied

    def _wait(self, seconds: float) -> None:
        """Hold, checking about once a second; returns early when a candidate's server went away (judge now)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._check():
                return
            self.sleep(min(1.0, left))
        self._check()

    def _check(self) -> bool:
        """Raise for an interrupt or a fault of the lab itself; True when a candidate's server is newly gone."""
        if interrupts.requested():  # also when the KeyboardInterrupt itself was swallowed somewhere
            raise KeyboardInterrupt(interrupts.requested())
        if self.load is not None and not self.load.alive():
            where = getattr(self.load, "out_dir", None)
            raise LoadStopped("load stopped: the load generator exited early"
                              + (f" (see {where}/locust.log)" if where else ""))
        if self.watch is None:
            return False
        own, lab = self._faults()
        if lab:
            raise InfrastructureFault(self._lab_fault(lab))
        new = [f for f in own if f.version not in self.gone]
        for fault in new:
            self.gone[fault.version] = fault  # type: ignore[index]
            self._write("fault", component=fault.component, message=fault.message, version=fault.version)
            self._say(f"{fault.message}: its users get errors")
        return bool(new)

    def _faults(self) -> tuple[list[Fault], list[Fault]]:
        """The watch's faults as (the candidates' own, the lab's); a version this run retired is no fault."""
        assert self.watch is not None
        candidates = set(self.scenario.versions.all[1:])
        return classify([f for f in self.watch.faults() if f.version not in self.retired], candidates)

    def _lab_fault(self, lab: list[Fault]) -> str:
        """Journal each fault of the lab itself; the reason the run aborts on."""
        for fault in lab:
            self._write("fault", component=fault.component, message=fault.message, version=fault.version)
        return describe(lab)

    def _observe(self, version: str, window_s: float, checks: list[Check]) -> Observed:
        """A version's basics and every checked metric over the last window (raises MetricsUnavailable)."""
        queries = {c.metric: render_metric(c.metric, version, window_s) for c in checks}
        values = {metric: self.metrics.query(query) for metric, query in queries.items()}
        return Observed(measure(self.metrics, version, window_s), values, queries)

    # --- one step ------------------------------------------------------------------------------
    def _judge(self, step: Step, window_s: float, judge: Judge) -> Assessment:
        a = self.scenario.analysis
        if judge.version in self.gone:
            return self._judge_gone(step, window_s, judge.version)
        # Missing data is never a verdict on the candidate: Prometheus not answering ends the run aborted.
        if not self.metrics.is_online():
            raise MetricsUnavailable("metrics unavailable: Prometheus does not answer")
        try:
            judged = self._observe(judge.version, window_s, a.checks)
            reference = self._observe(judge.reference, window_s, a.checks) if judge.reference else None
        except MetricsUnavailable as exc:
            self._write("analysis", phase=step.phase, label=step.label, verdict="Error", reasons=[str(exc)])
            raise MetricsUnavailable(f"metrics unavailable: {exc}") from exc
        fallback = self.recorded.get(judge.fallback) if judge.fallback else None
        if step.sequential:
            try:
                judged = self._with_buckets(judged, window_s, bucket_bounds(a.checks, reference, fallback))
            except MetricsUnavailable as exc:
                self._write("analysis", phase=step.phase, label=step.label, verdict="Error", reasons=[str(exc)])
                raise MetricsUnavailable(f"metrics unavailable: {exc}") from exc
            assessment = assess_sequential(a.checks, judged, reference, fallback, a.min_requests, a.min_feedback,
                                           a.alpha)
        else:
            assessment = assess(a.checks, judged, reference, fallback, a.min_requests, a.min_feedback)
        share = step.state.weights.get(judge.version, 0) * 100 // max(1, step.state.total)
        self._write(
            "analysis", phase=step.phase, label=step.label, window_s=round(window_s, 2),
            version=judge.version, candidate_percent=share, verdict=assessment.verdict.value,
            reasons=list(assessment.reasons), checks=[c.to_dict() for c in assessment.checks],
            candidate=judged.to_dict(), baseline=reference.to_dict() if reference else None,
            reference_baseline=fallback.to_dict() if fallback else None,
        )
        return assessment

    def _judge_gone(self, step: Step, window_s: float, version: str) -> Assessment:
        """A candidate whose server went away has failed: what its users got is the router's errors for it."""
        try:
            errors = self.metrics.query(render_router_errors(version, window_s))
        except MetricsUnavailable:
            errors = math.nan
        counted = "an unknown number of" if math.isnan(errors) else f"{errors:.0f}"
        reason = f"{self.gone[version].message}; the router answered its users {counted} errors (5xx) in the window"
        self._write("analysis", phase=step.phase, label=step.label, window_s=round(window_s, 2), version=version,
                    verdict=Verdict.FAILED.value, reasons=[reason], router_errors=None if math.isnan(errors) else errors)
        return Assessment(Verdict.FAILED, (reason,))

    def _with_buckets(self, observed: Observed, window_s: float, bounds: set[float]) -> Observed:
        """The version's requests within each latency bucket bound over the window (sequential latency tests)."""
        version = observed.metrics.version
        counts = {le: self.metrics.query(render_bucket(version, le, window_s)) for le in sorted(bounds)}
        return replace(observed, at_most={le: 0.0 if math.isnan(v) else v for le, v in counts.items()})

    def _record(self, step: Step, window_s: float) -> None:
        assert step.record is not None
        version, name = step.record
        try:
            observed = self._observe(version, window_s, self.scenario.analysis.checks)
        except MetricsUnavailable as exc:
            self._write("reference_recorded", name=name, version=version, error=str(exc))
            self._say(f"no reference window for {version}: {exc}")
            return
        self.recorded[name] = observed
        self._write("reference_recorded", name=name, version=version, baseline=observed.to_dict())
        m = observed.metrics
        accuracy = "" if math.isnan(m.accuracy) else f", accuracy {m.accuracy:.1%} ({m.feedback:.0f} labels)"
        self._say(f"{version}: {m.requests:.0f} requests, error rate {0 if m.requests == 0 else m.error_rate:.2%}, "
                  f"p95 {m.p95_ms:.1f} ms{accuracy}")

    def _probe(self, probe: Probe) -> ProbeResult:
        if self.hooks is None:
            return ProbeResult(False, "this target cannot run smoke tests")
        result = self.hooks.smoke(probe)
        self._write("smoke", version=probe.version, passed=result.passed, summary=result.summary,
                           numbers=result.numbers)
        self._say(f"smoke tests of {probe.version}: {'passed' if result.passed else 'FAILED'} — {result.summary}")
        return result

    def _switch(self, version: str, applied_at: float) -> None:
        if self.hooks is None:
            return
        timing = self.hooks.time_switch(version, applied_at)
        self._write("switch", version=version, **timing)
        seen = timing.get("switch_s")
        failed = timing.get("failed_requests")
        self._say(f"switch to {version}: router applied it in {timing.get('apply_s', 0):.2f}s; every new request "
                  f"served by {version} {'after ' + format(seen, '.2f') + 's' if seen is not None else 'NOT seen'}; "
                  f"failed requests around the switch: {'unknown' if failed is None else failed}")

    def _counters(self, version: str) -> dict[str, float]:
        """A version's cumulative counters; MetricsUnavailable when Prometheus has none (never a 0 that is not)."""
        values = {name: self.metrics.query(render_counter(name, version)) for name in COUNTERS}
        missing = [name for name, value in values.items() if math.isnan(value)]
        if missing:
            raise MetricsUnavailable(f"no {', '.join(missing)} counter for {version} in Prometheus")
        return values

    def _tally(self, versions: tuple[str, ...]) -> dict[str, Tally]:
        """Counts since tallying began, per version. A version whose counters cannot be read now is left out
        (the strategy waits for it); its zero point is its first successful reading."""
        tallies = {}
        for version in versions:
            try:
                now = self._counters(version)
                moments = {m: self.metrics.query(render_user_moment(m, version, self.run_label)) for m in USER_MOMENTS}
            except MetricsUnavailable as exc:
                self._write("error", message=f"tally of {version}: {exc}")
                continue
            start = self.tally_start.setdefault(version, now)
            if any(now[k] < start[k] for k in now):  # the server restarted: its counters began again at 0
                self._write("error", message=f"counters of {version} went back: a restart; counting anew")
                start = self.tally_start[version] = {k: 0.0 for k in now}
            m = {k: 0.0 if math.isnan(v) else v for k, v in moments.items()}  # no user seen yet: zero sums
            user_moments = UserMoments(m["users"], m["y"], m["n"], m["y2"], m["n2"], m["yn"])
            tallies[version] = Tally(now["requests"] - start["requests"], now["feedback"] - start["feedback"],
                                     now["reward"] - start["reward"], user_moments, m["exposed"],
                                     now["errors"] - start["errors"])
        return tallies

    def _run_step(self, step: Step) -> Observation:
        hold = step.hold_s
        if step.tally and not self.tally_start:
            self._tally(step.tally)  # the zero point: counting starts with the first tallied step
        if step.compare and self.compare_since is None:
            self.compare_since = time.time()
        if step.sequential and step.window_s == hold:  # the first look of a step: its window begins now
            self.looks_since = time.monotonic()
        if hold > 0:
            self._emit("hold", {"label": step.label, "phase": step.phase, "seconds": hold, "since": time.time()})
            if not step.sequential:
                self._say(f"{step.label}: holding {hold:g}s" + (" then judging" if step.judge or step.guards else ""))
            elif step.window_s == hold:  # the first look: say it once, not at every scrape
                self._say(f"{step.label}: judging every {hold:g}s until conclusive")
            self._wait(hold)
        window = hold
        if step.sequential:  # a look judges the whole step so far, in real time (queries take time too)
            window = max(step.window_s or hold, time.monotonic() - self.looks_since)
        assessment = self._judge(step, window, step.judge) if step.judge else None
        guards = {g.version: self._judge(step, window, g) for g in step.guards}
        if step.record:
            self._record(step, hold)
        probe = self._probe(step.probe) if step.probe else None
        tallies = self._tally(step.tally) if step.tally else {}
        agreement = None
        if step.compare:
            if self.hooks is None:
                agreement = {"matched": 0, "agreement": None, "error": "this target keeps no prediction logs"}
            else:
                agreement = self.hooks.agreement(*step.compare, self.compare_since)
            self._write("agreement", label=step.label, baseline=step.compare[0], shadow=step.compare[1],
                               **agreement)
        if tallies:
            self._write("tally", label=step.label, tallies={v: _tally_dict(t) for v, t in tallies.items()})
        if assessment is not None and not (step.sequential and assessment.verdict is Verdict.INCONCLUSIVE):
            self._say(f"{step.label}: {assessment.verdict.value} after {window:.3g}s — {assessment.summary}")
        for version, guard in guards.items():
            if guard.verdict is not Verdict.SUCCESSFUL:
                self._say(f"{step.label}: guardrail on {version}: {guard.verdict.value} — {guard.summary}")
        return Observation(self._elapsed(), assessment, probe, guards, tallies, agreement)

    # --- the run -------------------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        s = self.scenario
        self._write("run_started", scenario=s.model_dump(mode="json"), strategy=s.strategy)  # type: ignore[attr-defined]
        outcome = self.outcome = RunOutcome(Outcome.ABORTED.value, "not started", {})
        try:
            first = self.strategy.first()
            self.fallback = first.fallback
            # The first step's routing is in force before any load arrives: an experiment's split counts
            # every user from the first request (a sample-ratio check would flag users seen before it).
            self._apply(first.state, first.phase)
            rejected = self._gates()
            if rejected is not None:
                return rejected
            if self.load is not None:
                record = self.load.start()
                self._say(f"load: {s.load.describe()} (locust pid {getattr(record, 'pid', '?')})")
            outcome = self._steps(first)
        except (KeyboardInterrupt, RolloutLabError) as exc:
            reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else self._explained(exc)
            outcome = self._abort(reason, outcome)
            outcome.interrupted = isinstance(exc, KeyboardInterrupt)
        except Exception as exc:  # a bug: still leave traffic on the fallback, then let it surface
            outcome = self._abort(f"internal error: {exc!r}", outcome)
            raise
        finally:
            if self.load is not None:
                self.load.stop()
            self._write("run_finished", outcome=outcome.outcome, reason=outcome.reason,
                               final_weights=outcome.final_weights, analyses=outcome.analyses,
                               rollback_failed=outcome.rollback_failed)
        return outcome

    def _gates(self) -> RunOutcome | None:
        """Run the scenario's pre-deploy gates on every candidate; a failure ends the run before traffic moves."""
        s = self.scenario
        if s.gates is None or not s.gates.enabled():
            return None
        if self.hooks is None:
            raise RolloutLabError("this target cannot run pre-deploy gates")
        failed = []
        for candidate in s.versions.all[1:]:
            self._say(f"pre-deploy gates of {candidate} against {s.versions.baseline}: {', '.join(s.gates.enabled())}")
            for result in self.hooks.gates(s.gates, s.versions.baseline, candidate):
                self._write("gate", version=candidate, **result.to_dict())
                mark = "skipped" if getattr(result, "skipped", False) else ("pass" if result.passed else "FAIL")
                self._say(f"  gate {result.name} ({candidate}): {mark} — {result.summary}")
                if not result.passed and not getattr(result, "skipped", False):
                    failed.append(f"{result.name} ({candidate}): {result.summary}")
        if not failed:
            return None
        outcome = self.outcome
        outcome.outcome, outcome.reason = Outcome.REJECTED.value, "pre-deploy gate failed: " + "; ".join(failed)
        outcome.final_weights = self.router.current().weights
        self._say(f"REJECTED before any user traffic moved: {outcome.reason}")
        return outcome

    def _steps(self, step: Step) -> RunOutcome:
        outcome = self.outcome  # counts analyses as they happen, so an abort reports them too
        history: tuple[Record, ...] = ()
        while True:
            self.fallback = step.fallback
            state = self.router.current()
            if not _same_routing(state, step.state):
                applied_at = time.monotonic()
                state = self._apply(step.state, step.phase)
                if step.switch_to:
                    self._switch(step.switch_to, applied_at)
            self._write("step", phase=step.phase, label=step.label, hold_s=step.hold_s, reason=step.reason,
                               generation=state.generation, final=step.final)
            if step.final:
                self._check()  # no verdict is declared after an interrupt or on a lab that broke meanwhile
                for version in step.retire:
                    self.retired.add(version)
                    message = self.hooks.retire(version) if self.hooks else "this target cannot stop versions"
                    self._write("retired", version=version, message=message)
                    self._say(message)
                assert step.outcome is not None
                outcome.outcome, outcome.reason, outcome.final_weights = step.outcome.value, step.reason, state.weights
                self._say(f"{step.outcome.value.upper()}: {step.reason} → {state.describe()}")
                return outcome
            observation = self._run_step(step)
            if observation.assessment is not None or observation.guards or observation.tallies \
                    or observation.agreement is not None:
                outcome.analyses += 1
                outcome.assessments.append(observation.assessment)
            history += (Record(step, observation),)
            step = self.strategy.next(history)
            verdict = observation.assessment.verdict.value if observation.assessment else None
            self._write("decision", phase=step.phase, label=step.label, reason=step.reason, verdict=verdict,
                               weights=step.state.weights, final=step.final,
                               outcome=step.outcome.value if step.outcome else None, notes=step.notes)
            if step.notes.get("progress"):
                self._say(str(step.notes["progress"]))

    def _explained(self, exc: RolloutLabError) -> str:
        """Why the run stops, naming the part of the lab that died when a failed query was its first sign.

        A query in flight when Prometheus is killed fails at once (connection reset), often before the
        watch's next look; the watch then tells which part is gone (the kernel resets the connection as
        the process exits, so it shows within moments)."""
        if not isinstance(exc, MetricsUnavailable) or self.watch is None:
            return str(exc)
        for _ in range(10):  # about 1 s
            _, lab = self._faults()
            if lab:
                return f"{self._lab_fault(lab)} ({exc})"
            self.sleep(0.1)
        return str(exc)

    def _abort(self, reason: str, outcome: RunOutcome) -> RunOutcome:
        """Put traffic on the current step's fallback (the baseline, or what served before a switch)."""
        fallback = self.fallback
        target = ", ".join(v for v, w in fallback.weights.items() if w > 0)
        self._say(f"aborting: {reason}; routing all traffic back to {target}")
        outcome.outcome, outcome.reason = Outcome.ABORTED.value, reason
        try:
            outcome.final_weights = self._apply(RoutingState(fallback.weights, reason=f"abort: {reason}"), "abort").weights
        except RolloutLabError as exc:
            self._rollback_failed(target, exc, outcome)
        return outcome

    def _rollback_failed(self, target: str, exc: RolloutLabError, outcome: RunOutcome) -> None:
        """Say loudly where traffic really is when even the abort could not move it."""
        outcome.rollback_failed = True
        try:
            in_force = self.router.current().describe() + " (the last state the router accepted)"
        except RolloutLabError as unreadable:
            in_force = f"unknown ({unreadable})"
        outcome.reason = f"{outcome.reason}; ROLLBACK FAILED: traffic is NOT on {target}: {exc}"
        self._write("rollback_failed", target=target, message=str(exc), in_force=in_force)
        self._say(f"ROLLBACK FAILED: traffic is NOT on {target}: {exc}; in force: {in_force}")


def _tally_dict(tally: Tally) -> dict[str, object]:
    data = {"requests": tally.requests, "feedback": tally.feedback, "reward": tally.reward,
            "errors": tally.errors, "exposed_users": tally.exposed_users}
    if tally.moments is not None:
        data["user_moments"] = tally.moments.__dict__
    return data


def _same_routing(a: RoutingState, b: RoutingState) -> bool:
    """Equal weights, rules, stickiness and mirror (generation and reason aside)."""
    return (a.weights, a.rules, a.sticky, a.mirror) == (b.weights, b.rules, b.sticky, b.mirror)
