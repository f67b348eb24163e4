"""Canary: walk the candidate through increasing traffic steps; roll back on failure or lasting doubt (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.routing import RoutingState, split
from rolloutlab.strategies.base import Judge, Outcome, Record, Step

BASELINE_ALONE = "baseline-alone"


@dataclass(frozen=True)
class CanaryProgress:
    step: int = 0  # index into steps of the split being analysed
    failures: int = 0  # failed analyses so far
    inconclusive: int = 0  # inconclusive (or unreadable) analyses in a row
    looks: int = 0  # sequential: looks so far at this step (its window is looks × look seconds)


@dataclass(frozen=True)
class Canary:
    baseline: str
    candidate: str
    steps: tuple[int, ...]
    interval: float
    failure_limit: int = 1
    inconclusive_limit: int = 2
    look: float | None = None  # sequential: judge the step's whole window every `look` seconds

    @property
    def longest_step(self) -> float:
        """Sequential: how long a step looks for conclusive evidence (or its minimum exposure) before giving up."""
        return self.interval * self.inconclusive_limit

    def _state(self, percent: int, reason: str) -> RoutingState:
        return RoutingState(split(self.baseline, self.candidate, percent), reason=reason)

    def _step(self, percent: int, progress: CanaryProgress, reason: str) -> Step:
        label = f"step {progress.step + 1}/{len(self.steps)}: {self.candidate} at {percent}%"
        step = Step(self._state(percent, reason), self.interval, label, "canary", self._state(0, "abort"),
                    judge=Judge(self.candidate, self.baseline, BASELINE_ALONE), reason=reason, memory=progress)
        if self.look is None:
            return step
        looks = progress.looks + 1
        return replace(step, hold_s=self.look, window_s=self.look * looks, sequential=True,
                       memory=replace(progress, looks=looks))

    def _final(self, outcome: Outcome, reason: str, progress: CanaryProgress) -> Step:
        percent = 100 if outcome is Outcome.PROMOTED else 0
        return Step(self._state(percent, reason), 0.0, outcome.value, "done", self._state(percent, reason),
                    outcome=outcome, reason=reason, memory=progress)

    def first(self) -> Step:
        # The baseline alone at full load first: the only fair reference once the candidate takes 100 %
        # (a baseline window from a partial step saw less load than the candidate then does).
        reason = "baseline before the rollout"
        return Step(self._state(0, reason), self.interval, f"{self.baseline} alone at 100%", "baseline",
                    self._state(0, "abort"), record=(self.baseline, BASELINE_ALONE), reason=reason)

    def next(self, history: tuple[Record, ...]) -> Step:
        last = history[-1]
        progress = last.step.memory
        if progress is None:  # the baseline window is recorded: start the canary
            first = CanaryProgress()
            return self._step(self.steps[0], first, f"start canary at {self.steps[0]}%")
        assessment = last.observation.assessment
        verdict = assessment.verdict if assessment else Verdict.ERROR
        current = self.steps[progress.step]
        if verdict is Verdict.SUCCESSFUL:
            progress = replace(progress, inconclusive=0)
            if progress.step + 1 == len(self.steps):
                return self._final(Outcome.PROMOTED, f"all {len(self.steps)} steps passed", progress)
            progress = replace(progress, step=progress.step + 1, looks=0)
            return self._step(self.steps[progress.step], progress, f"{current}% passed")
        if verdict is Verdict.FAILED:
            progress = replace(progress, failures=progress.failures + 1, inconclusive=0, looks=0)
            if progress.failures >= self.failure_limit:
                return self._final(Outcome.ROLLED_BACK, f"{progress.failures} failed analysis(es) at {current}% "
                                   f"(limit {self.failure_limit})", progress)
            return self._step(current, progress, f"failed analysis {progress.failures}/{self.failure_limit} "
                              f"at {current}%: hold")
        if self.look is not None:  # sequential: keep looking at the growing window until it is conclusive
            waited = self.look * progress.looks
            if waited + self.look > self.longest_step + 1e-9:
                return self._final(Outcome.ROLLED_BACK, f"{verdict.value.lower()} for {waited:g}s at {current}%: "
                                   f"no conclusive evidence nor the minimum exposure (limit {self.longest_step:g}s)",
                                   progress)
            return self._step(current, progress, f"look {progress.looks} at {current}%: {verdict.value.lower()}")
        progress = replace(progress, inconclusive=progress.inconclusive + 1)
        if progress.inconclusive >= self.inconclusive_limit:
            return self._final(Outcome.ROLLED_BACK, f"{progress.inconclusive} inconclusive analyses in a row at "
                               f"{current}% (limit {self.inconclusive_limit})", progress)
        return self._step(current, progress, f"{verdict.value.lower()} analysis "
                          f"{progress.inconclusive}/{self.inconclusive_limit} at {current}%: hold")
