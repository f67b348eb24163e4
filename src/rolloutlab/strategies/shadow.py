"""Shadow: a share of live requests is copied to the candidate, whose answers are dropped, so users only
ever see the baseline. The candidate's latency and errors are judged against the baseline's over the same
windows, and its answers against the baseline's on the same requests (agreement, and accuracy where
labels arrived), joined from both versions' prediction logs (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.routing import Mirror, RoutingState
from rolloutlab.strategies.base import Judge, Outcome, Record, Step


@dataclass(frozen=True)
class Shadow:
    baseline: str
    candidate: str
    percent: int
    interval: float
    windows: int
    min_agreement: float
    max_accuracy_drop: float

    def _users_on_baseline(self, reason: str) -> RoutingState:
        return RoutingState({self.baseline: 100, self.candidate: 0}, reason=reason)

    def _window(self, index: int) -> Step:
        reason = f"{self.percent}% of requests mirrored to {self.candidate}; users see {self.baseline} only"
        state = RoutingState({self.baseline: 100, self.candidate: 0}, mirror=Mirror(self.candidate, self.percent),
                             reason=reason)
        return Step(state, self.interval, f"shadow window {index + 1}/{self.windows}", "shadow",
                    self._users_on_baseline("abort"), judge=Judge(self.candidate, self.baseline),
                    compare=(self.baseline, self.candidate), reason=reason, memory=index)

    def first(self) -> Step:
        return self._window(0)

    def _final(self, outcome: Outcome, reason: str, notes: dict) -> Step:
        state = self._users_on_baseline(reason)
        return Step(state, 0.0, outcome.value, "done", state, outcome=outcome, reason=reason, notes=notes)

    def next(self, history: tuple[Record, ...]) -> Step:
        last = history[-1]
        index: int = last.step.memory
        obs = last.observation
        assessment = obs.assessment
        agreement = obs.agreement or {}
        notes = {"agreement": agreement, "progress": _progress(self.baseline, self.candidate, agreement)}
        if assessment is not None and assessment.verdict is Verdict.FAILED:
            return self._final(Outcome.REJECTED, f"{self.candidate} on mirrored traffic: {assessment.summary}", notes)
        if index + 1 < self.windows:
            return replace(self._window(index + 1), notes=notes)
        problems = []
        rate = agreement.get("agreement")
        if rate is None:
            problems.append("no mirrored request could be matched to the baseline's answer")
        elif rate < self.min_agreement:
            problems.append(f"agreement {rate:.1%} < {self.min_agreement:.0%}")
        gap = agreement.get("accuracy_gap")
        if gap is not None and gap > self.max_accuracy_drop:
            problems.append(f"accuracy on the same labelled requests {gap:.1%} below {self.baseline}'s "
                            f"(limit {self.max_accuracy_drop:.0%})")
        if assessment is None or assessment.verdict is not Verdict.SUCCESSFUL:
            problems.append(f"latency/error checks: {assessment.verdict.value if assessment else 'not run'}")
        if problems:
            return self._final(Outcome.REJECTED, "; ".join(problems) + "; users never saw it", notes)
        return self._final(Outcome.PASSED, f"{self.candidate} agreed with {self.baseline} on {rate:.1%} of "
                           f"{agreement.get('matched', 0)} mirrored requests and held its checks; users never saw it",
                           notes)


def _progress(baseline: str, candidate: str, agreement: dict) -> str:
    if not agreement.get("matched"):
        return f"shadow: no mirrored request of {candidate} matched to {baseline}'s answers yet"
    acc = agreement.get("candidate_accuracy")
    base = agreement.get("baseline_accuracy")
    quality = f"; accuracy {candidate} {acc:.1%} vs {baseline} {base:.1%} on {agreement['labelled']} labelled" \
        if acc is not None and base is not None else ""
    return (f"shadow: agreement {agreement['agreement']:.1%} on {agreement['matched']} requests; latency p95 "
            f"{candidate} {agreement.get('candidate_p95_ms', float('nan')):.1f} ms vs {baseline} "
            f"{agreement.get('baseline_p95_ms', float('nan')):.1f} ms{quality}")
