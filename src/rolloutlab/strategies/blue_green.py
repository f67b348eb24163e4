"""Blue-green: green starts beside blue, is smoke-tested through the router's preview route, then takes all
traffic in one switch; a watch window judges it against blue's numbers from before the switch, and blue
stays up for an instant rollback until the watch passes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rolloutlab.analysis.verdict import Assessment, Verdict
from rolloutlab.routing import PREVIEW_HEADER, PREVIEW_VALUE, Mirror, RoutingState, preview_rule
from rolloutlab.strategies.base import Judge, Outcome, Probe, Record, Step

BLUE_BEFORE = "blue-before-switch"


@dataclass(frozen=True)
class BlueGreenProgress:
    phase: str
    inconclusive: int = 0
    looks: int = 0  # sequential: looks so far in the watch window


@dataclass(frozen=True)
class BlueGreen:
    blue: str
    green: str
    interval: float  # blue's reference window, and the pre-switch mirror window
    watch: float  # the post-switch watch window
    mirror_percent: int | None = None  # optional pre-switch analysis on mirrored traffic
    inconclusive_limit: int = 2
    # sequential: judge everything since the switch every `look` seconds; a conclusive failure rolls back at
    # once, a pass still waits for the whole watch window (blue stays up for an instant rollback until then)
    look: float | None = None

    # --- routing states -------------------------------------------------------------------------
    def _blue(self, reason: str) -> RoutingState:
        return RoutingState({self.blue: 100, self.green: 0}, reason=reason)

    def _green(self, reason: str) -> RoutingState:
        return RoutingState({self.blue: 0, self.green: 100}, reason=reason)

    def _step(self, state: RoutingState, hold: float, label: str, phase: str, **extra: object) -> Step:
        fallback = self._blue("abort")
        return Step(state, hold, label, phase, fallback, memory=BlueGreenProgress(phase), **extra)  # type: ignore[arg-type]

    def _final(self, outcome: Outcome, reason: str, phase: str) -> Step:
        if outcome is Outcome.PROMOTED:
            # Blue leaves the routing table and is stopped: the watch window passed.
            state = RoutingState({self.green: 100}, reason=reason)
            return Step(state, 0.0, outcome.value, "done", state, outcome=outcome, reason=reason,
                        retire=(self.blue,), memory=BlueGreenProgress(phase))
        state = self._blue(reason)
        return Step(state, 0.0, outcome.value, "done", state, outcome=outcome, reason=reason,
                    memory=BlueGreenProgress(phase))

    # --- phases ---------------------------------------------------------------------------------
    def first(self) -> Step:
        reason = "blue serves everyone; green starts beside it"
        return self._step(self._blue(reason), self.interval, f"{self.blue} (blue) alone: reference window",
                          "blue", record=(self.blue, BLUE_BEFORE), reason=reason)

    def _smoke(self) -> Step:
        reason = f"preview route to {self.green} for smoke tests ({PREVIEW_HEADER}: {PREVIEW_VALUE})"
        state = RoutingState({self.blue: 100, self.green: 0}, rules=(preview_rule(self.green),), reason=reason)
        return self._step(state, 0.0, f"smoke tests of {self.green} (green) through the router", "smoke",
                          probe=Probe(self.green, {PREVIEW_HEADER: PREVIEW_VALUE}), reason=reason)

    def _mirror(self) -> Step:
        assert self.mirror_percent is not None
        reason = f"pre-switch analysis: {self.mirror_percent}% of requests mirrored to {self.green}"
        state = RoutingState({self.blue: 100, self.green: 0}, mirror=Mirror(self.green, self.mirror_percent),
                             reason=reason)
        return self._step(state, self.interval, f"{self.green} on mirrored traffic (users see {self.blue})",
                          "mirror", judge=Judge(self.green, self.blue, BLUE_BEFORE), reason=reason)

    def _switch(self, inconclusive: int = 0) -> Step:
        reason = f"switch: all traffic to {self.green}" if inconclusive == 0 else \
            f"watch again ({inconclusive}/{self.inconclusive_limit} inconclusive)"
        step = self._step(self._green(reason), self.watch, f"{self.green} (green) serves everyone: watch window",
                          "watch", judge=Judge(self.green, self.blue, BLUE_BEFORE), reason=reason,
                          switch_to=self.green if inconclusive == 0 else None)
        if self.look is None:
            return replace(step, memory=BlueGreenProgress("watch", inconclusive))
        return self._look(step, 1)

    def _look(self, step: Step, looks: int) -> Step:
        assert self.look is not None
        return replace(step, hold_s=self.look, window_s=self.look * looks, sequential=True,
                       memory=BlueGreenProgress("watch", 0, looks))

    def _watch_sequential(self, last: Record, progress: BlueGreenProgress) -> Step:
        assert self.look is not None
        assessment = last.observation.assessment
        checks = assessment.checks if assessment else ()
        conclusive = [c for c in checks if c.verdict is Verdict.FAILED and c.conclusive]
        watched = self.look * progress.looks
        if conclusive:
            why = "; ".join(c.message for c in conclusive)
            return self._final(Outcome.ROLLED_BACK, f"{self.green} failed the watch after {watched:g}s ({why}); "
                               f"all traffic back on {self.blue}", "watch")
        if watched + 1e-9 < self.watch:  # the fixed rule decides only once the whole watch window is in
            return self._look(replace(last.step, switch_to=None), progress.looks + 1)
        decided = self._watch_decided(assessment, watched)
        if decided is not None:
            return decided
        if watched + self.look > self.watch * self.inconclusive_limit + 1e-9:
            return self._final(Outcome.ROLLED_BACK, f"inconclusive for {watched:g}s of watching "
                               f"(limit {self.watch * self.inconclusive_limit:g}s): back on {self.blue}", "watch")
        return self._look(replace(last.step, switch_to=None), progress.looks + 1)

    def _watch_decided(self, assessment: Assessment | None, watched: float) -> Step | None:
        """The end of a watch window: promoted on a pass, rolled back on a failure, None while inconclusive."""
        verdict = assessment.verdict if assessment else Verdict.ERROR
        summary = assessment.summary if assessment else "no assessment"
        if verdict is Verdict.SUCCESSFUL:
            return self._final(Outcome.PROMOTED, f"{self.green} passed the {watched:g}s watch window; "
                               f"{self.blue} retired", "watch")
        if verdict is Verdict.FAILED:
            return self._final(Outcome.ROLLED_BACK, f"{self.green} failed the watch window ({summary}); "
                               f"all traffic back on {self.blue}", "watch")
        return None

    def next(self, history: tuple[Record, ...]) -> Step:
        last = history[-1]
        progress: BlueGreenProgress = last.step.memory
        if progress.phase == "blue":
            return self._smoke()
        if progress.phase == "smoke":
            probe = last.observation.probe
            if probe is None or not probe.passed:
                why = probe.summary if probe else "the smoke tests did not run"
                return self._final(Outcome.REJECTED, f"smoke tests of {self.green} failed: {why}", "smoke")
            return self._mirror() if self.mirror_percent else self._switch()
        if progress.phase == "watch" and self.look is not None:
            return self._watch_sequential(last, progress)
        assessment = last.observation.assessment
        verdict = assessment.verdict if assessment else Verdict.ERROR
        summary = assessment.summary if assessment else "no assessment"
        if progress.phase == "mirror":
            if verdict is Verdict.SUCCESSFUL:
                return self._switch()
            return self._final(Outcome.REJECTED, f"pre-switch analysis on mirrored traffic: {verdict.value} "
                               f"({summary})", "mirror")
        decided = self._watch_decided(assessment, self.watch)
        if decided is not None:
            return decided
        inconclusive = progress.inconclusive + 1
        if inconclusive >= self.inconclusive_limit:
            return self._final(Outcome.ROLLED_BACK, f"{inconclusive} inconclusive watch windows in a row "
                               f"(limit {self.inconclusive_limit}): back on {self.blue}", "watch")
        return self._switch(inconclusive)
