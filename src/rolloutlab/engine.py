"""The experiment engine: run a canary scenario step by step against a router, metrics and load."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rolloutlab.analysis.canary import assess_canary
from rolloutlab.analysis.measure import measure
from rolloutlab.analysis.verdict import Assessment, Verdict, VersionMetrics
from rolloutlab.errors import MetricsUnavailable, RolloutLabError
from rolloutlab.journal import Journal
from rolloutlab.load.locust_runner import LocustRunner
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routing import RoutingState, split
from rolloutlab.scenario import Scenario
from rolloutlab.strategies import canary
from rolloutlab.strategies.action import Action, Kind

Progress = Callable[[str], None]


class LoadStopped(RolloutLabError):
    """The load generator exited before the rollout finished."""


@dataclass
class RunOutcome:
    outcome: str  # promoted | rolled back | aborted
    reason: str
    final_weights: dict[str, int]
    analyses: int = 0
    interrupted: bool = False
    assessments: list[Assessment] = field(default_factory=list)


class CanaryRun:
    """Carries out a canary scenario. Every exit path leaves traffic on the baseline unless promoted."""

    def __init__(
        self,
        scenario: Scenario,
        router: TrafficRouter,
        metrics: MetricsSource,
        journal: Journal,
        load: LocustRunner | None = None,
        progress: Progress = lambda _: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scenario = scenario
        self.router = router
        self.metrics = metrics
        self.journal = journal
        self.load = load
        self.progress = progress
        self.sleep = sleep
        self.started = time.monotonic()
        # The baseline at full traffic, measured before the rollout: the only fair reference once the
        # candidate takes 100 % (a baseline window from a partial step saw less load than the candidate does).
        self.full_load_baseline: VersionMetrics | None = None

    # --- helpers -------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        self.progress(f"[{int(elapsed // 60)}:{int(elapsed % 60):02d}] {message}")

    def _apply(self, candidate_percent: int, reason: str) -> RoutingState:
        v = self.scenario.versions
        state = self.router.apply(RoutingState(split(v.baseline, v.candidate, candidate_percent), reason=reason))
        self.journal.write("routing_applied", generation=state.generation, weights=state.weights, reason=reason)
        return state

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.load is not None and not self.load.alive():
                raise LoadStopped(f"the load generator exited early (see {self.load.out_dir / 'locust.log'})")
            self.sleep(min(1.0, left))

    def _analyse(self, step_percent: int, window_s: float) -> Assessment:
        v, limits = self.scenario.versions, self.scenario.analysis
        try:
            candidate = measure(self.metrics, v.candidate, window_s)
            baseline = measure(self.metrics, v.baseline, window_s)
        except MetricsUnavailable as exc:
            return Assessment(Verdict.ERROR, (str(exc),))
        concurrent = baseline.requests >= limits.min_requests and not math.isnan(baseline.p95_ms)
        reference = baseline if concurrent else self.full_load_baseline
        assessment = assess_canary(candidate, reference, limits)
        self.journal.write(
            "analysis",
            candidate_percent=step_percent,
            window_s=round(window_s, 2),
            verdict=assessment.verdict.value,
            reasons=list(assessment.reasons),
            candidate=candidate.to_dict(),
            baseline=baseline.to_dict(),
            reference_baseline=reference.to_dict() if reference else None,
        )
        return assessment

    def _measure_full_load_baseline(self) -> None:
        """Watch the baseline alone under the run's load for one interval, as the reference for 100 %."""
        s = self.scenario
        self._say(f"measuring {s.versions.baseline} alone at 100% for {s.analysis.interval:g}s "
                  "(the reference once the candidate takes all traffic)")
        self._wait(s.analysis.interval)
        try:
            baseline = measure(self.metrics, s.versions.baseline, s.analysis.interval)
        except MetricsUnavailable as exc:
            self.journal.write("baseline_reference", error=str(exc))
            self._say(f"no baseline reference: {exc}")
            return
        if baseline.requests >= s.analysis.min_requests and not math.isnan(baseline.p95_ms):
            self.full_load_baseline = baseline
        self.journal.write("baseline_reference", baseline=baseline.to_dict())
        self._say(f"{s.versions.baseline} alone: {baseline.requests:.0f} requests, error rate "
                  f"{baseline.error_rate:.2%}, p95 {baseline.p95_ms:.1f} ms")

    # --- the run -------------------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        s = self.scenario
        self.journal.write("run_started", scenario=s.model_dump(), strategy=s.strategy)
        outcome = RunOutcome("aborted", "not started", {})
        try:
            self._apply(0, "baseline before the rollout")
            if self.load is not None:
                record = self.load.start()
                self._say(f"load: {s.load.users} users × {s.load.rate_per_user:g} req/s (locust pid {record.pid})")
            self._measure_full_load_baseline()
            outcome = self._steps()
        except (KeyboardInterrupt, RolloutLabError) as exc:
            reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else str(exc)
            outcome = self._abort(reason, outcome)
            outcome.interrupted = isinstance(exc, KeyboardInterrupt)
        except Exception as exc:  # a bug: still leave traffic on the baseline, then let it surface
            outcome = self._abort(f"internal error: {exc!r}", outcome)
            raise
        finally:
            if self.load is not None:
                self.load.stop()
            self.journal.write("run_finished", outcome=outcome.outcome, reason=outcome.reason,
                               final_weights=outcome.final_weights, analyses=outcome.analyses)
        return outcome

    def _steps(self) -> RunOutcome:
        s = self.scenario
        outcome = RunOutcome("aborted", "", {})
        progress = canary.CanaryProgress()
        action: Action = canary.first_step(s.steps)
        while True:
            state = self.router.current()
            if state.weights != split(s.versions.baseline, s.versions.candidate, action.candidate_percent):
                state = self._apply(action.candidate_percent, action.reason)
            if action.kind.final:
                outcome.outcome = "promoted" if action.kind is Kind.PROMOTE else "rolled back"
                outcome.reason, outcome.final_weights = action.reason, state.weights
                self._say(f"{outcome.outcome.upper()}: {action.reason} → {state.describe()}")
                return outcome
            step_label = f"step {progress.step + 1}/{len(s.steps)}"
            self._say(f"{step_label}: {s.versions.candidate} at {action.candidate_percent}% "
                      f"(routing generation {state.generation}); judging in {s.analysis.interval:g}s")
            self._wait(s.analysis.interval)
            assessment = self._analyse(action.candidate_percent, s.analysis.interval)
            outcome.analyses += 1
            outcome.assessments.append(assessment)
            action, progress = canary.decide(
                s.steps, progress, assessment.verdict, s.analysis.failure_limit, s.analysis.inconclusive_limit
            )
            self.journal.write("decision", action=action.kind.value, candidate_percent=action.candidate_percent,
                               reason=action.reason, verdict=assessment.verdict.value)
            self._say(f"{step_label}: {assessment.verdict.value} — {assessment.summary} → {action.kind.value}")

    def _abort(self, reason: str, outcome: RunOutcome) -> RunOutcome:
        """Put all traffic back on the baseline, whatever happened."""
        self._say(f"aborting: {reason}; routing all traffic back to {self.scenario.versions.baseline}")
        outcome.outcome, outcome.reason = "aborted", reason
        try:
            outcome.final_weights = self._apply(0, f"abort: {reason}").weights
        except RolloutLabError as exc:
            self.journal.write("error", message=f"rollback to baseline failed: {exc}")
            self._say(f"ROLLBACK FAILED: {exc}")
        return outcome
