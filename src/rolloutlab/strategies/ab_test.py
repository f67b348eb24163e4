"""A/B(/n) test: a fixed, sticky split by user; the reward rate from /feedback compared per user (delta
method), with a sample size fixed in advance, a sample-ratio-mismatch check, latency/error guardrails,
and optionally an always-valid sequential test that may stop early (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.routing import RoutingState
from rolloutlab.stats.multiplicity import confidence_label, per_comparison_alpha
from rolloutlab.stats.proportions import Comparison, UserMoments, compare_users
from rolloutlab.stats.sequential import always_valid_p
from rolloutlab.stats.srm import srm_check
from rolloutlab.strategies.base import Judge, Outcome, Record, Step, Tally

MIN_EXPECTED_UNITS = 20  # below this many users expected per arm, a chi-square says nothing


@dataclass(frozen=True)
class AbProgress:
    started_s: float | None = None  # engine time when the first window ended
    looks: int = 0
    sequential_p: dict[str, float] = field(default_factory=dict)
    guard_failures: dict[str, int] = field(default_factory=dict)  # failed guardrail looks in a row, per variant


@dataclass(frozen=True)
class AbTest:
    control: str
    treatments: tuple[str, ...]
    shares: dict[str, int]
    interval: float
    needed_per_arm: int  # labelled requests each arm needs for the designed power
    alpha: float
    max_duration: float
    srm_threshold: float = 0.001
    sequential: bool = False
    tau2: float = 0.0009  # mSPRT mixing variance (the MDE squared)
    failure_limit: int = 1  # failed guardrail looks in a row that stop the test

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.control, *self.treatments)

    @property
    def alpha_each(self) -> float:
        """The level every comparison runs at (decision, interval, sequential boundary): alpha over treatments."""
        return per_comparison_alpha(self.alpha, len(self.treatments))

    def _running(self, progress: AbProgress, reason: str, notes: dict | None = None) -> Step:
        state = RoutingState(dict(self.shares), sticky=True, reason=reason)
        safe = RoutingState({a: (100 if a == self.control else 0) for a in self.arms}, reason="abort")
        return Step(state, self.interval, f"A/B look {progress.looks + 1}", "experiment", safe,
                    guards=tuple(Judge(t, self.control) for t in self.treatments), tally=self.arms,
                    reason=reason, memory=progress, notes=notes or {})

    def _final(self, outcome: Outcome, winner: str, reason: str, notes: dict) -> Step:
        state = RoutingState({a: (100 if a == winner else 0) for a in self.arms}, reason=reason)
        return Step(state, 0.0, outcome.value, "done", state, outcome=outcome, reason=reason, notes=notes)

    def first(self) -> Step:
        split = ", ".join(f"{a} {w}%" for a, w in self.shares.items())
        return self._running(AbProgress(), f"A/B split {split}, sticky by user; {self.needed_per_arm} labelled "
                                           f"requests per arm needed")

    def next(self, history: tuple[Record, ...]) -> Step:
        last = history[-1]
        obs = last.observation
        progress: AbProgress = last.step.memory
        started = progress.started_s if progress.started_s is not None else obs.elapsed_s - self.interval
        progress = replace(progress, started_s=started, looks=progress.looks + 1)
        failures = {v: (progress.guard_failures.get(v, 0) + 1 if a.verdict is Verdict.FAILED else 0)
                    for v, a in obs.guards.items()}
        progress = replace(progress, guard_failures=failures)
        harmed = {v: obs.guards[v] for v, n in failures.items() if n >= self.failure_limit}
        if harmed:
            why = "; ".join(f"{v}: {a.summary}" for v, a in harmed.items())
            return self._final(Outcome.ROLLED_BACK, self.control, f"guardrail stopped the test after "
                               f"{self.failure_limit} failed look(s) in a row ({why})", {})
        tallies = obs.tallies
        if any(a not in tallies for a in self.arms):
            return self._running(progress, "no counts from Prometheus this look; waiting")
        notes = self._numbers(tallies)
        srm = notes["srm"]
        if srm["checked"] and srm["p_value"] < self.srm_threshold:
            return self._final(Outcome.NO_WINNER, self.control,
                               f"test invalidated: sample ratio mismatch (users per arm {srm['observed']}, "
                               f"expected {srm['expected']}, chi-square p = {srm['p_value']:.2g})", notes)
        comparisons = {t: self._compare(tallies, t) for t in self.treatments}
        if self.sequential:
            # The estimate's own variance: a CI half-width over 1.96 would be wrong for any alpha but 0.05.
            p_seq = {t: always_valid_p(progress.sequential_p.get(t, 1.0), c.difference, c.variance, self.tau2)
                     for t, c in comparisons.items() if not math.isnan(c.ci_low)}
            progress = replace(progress, sequential_p={**progress.sequential_p, **p_seq})
            notes["sequential_p"] = progress.sequential_p
            if p_seq and min(p_seq.values()) < self.alpha_each:
                return self._decide(comparisons, notes, "always-valid p-value crossed alpha: stopping early")
        labelled = min(tallies[a].feedback for a in self.arms)
        notes["progress"] = self._progress_line(tallies, comparisons, srm)
        if labelled >= self.needed_per_arm:
            return self._decide(comparisons, notes, f"every arm has ≥ {self.needed_per_arm} labelled requests")
        if obs.elapsed_s - started >= self.max_duration:
            return self._decide(comparisons, notes, f"time budget of {self.max_duration:g}s spent with "
                                f"{labelled:.0f} of {self.needed_per_arm} labelled requests per arm (underpowered)")
        return self._running(progress, f"{labelled:.0f}/{self.needed_per_arm} labelled requests per arm", notes)

    def _compare(self, tallies: dict[str, Tally], treatment: str) -> Comparison:
        empty = UserMoments(0, 0, 0, 0, 0, 0)
        return compare_users(tallies[self.control].moments or empty, tallies[treatment].moments or empty, self.alpha_each)

    def _numbers(self, tallies: dict[str, Tally]) -> dict:
        exposed = {a: tallies[a].exposed_users for a in self.arms}
        total = sum(exposed.values())
        checked = total * min(self.shares.values()) / 100 >= MIN_EXPECTED_UNITS
        srm = srm_check(exposed, {a: float(s) for a, s in self.shares.items()})
        return {
            "arms": {a: {"requests": t.requests, "labelled": t.feedback, "reward": t.reward,
                         "rate": t.reward / t.feedback if t.feedback else None, "users": exposed[a],
                         "pending": max(0.0, t.requests - t.feedback),
                         "design_effect": (t.moments.design_effect() if t.moments else None)}
                     for a, t in tallies.items()},
            "srm": {"checked": checked, "p_value": srm.p_value, "observed": srm.observed,
                    "expected": {a: round(v, 1) for a, v in srm.expected.items()}},
            "needed_per_arm": self.needed_per_arm,
            "unit": "randomised by user (sticky routing); analysed per request, with the delta method over users",
        }

    def _progress_line(self, tallies: dict[str, Tally], comparisons: dict[str, Comparison], srm: dict) -> str:
        arms = ", ".join(f"{a} {t.reward / t.feedback:.1%} ({t.feedback:.0f} labels)" if t.feedback else f"{a} –"
                         for a, t in tallies.items())
        effects = ", ".join(f"{t} − {self.control} = {c.difference:+.2%} [{c.ci_low:+.2%}, {c.ci_high:+.2%}]"
                            for t, c in comparisons.items() if not math.isnan(c.ci_low))
        srm_text = f"SRM p = {srm['p_value']:.2f}" if srm["checked"] else "SRM: too few users yet"
        return f"A/B: {arms}; need {self.needed_per_arm}/arm; {effects or 'no estimate yet'}; {srm_text}"

    def _decide(self, comparisons: dict[str, Comparison], notes: dict, why: str) -> Step:
        notes["results"] = {t: c.__dict__ for t, c in comparisons.items()}
        better = [t for t, c in comparisons.items() if c.significant and c.difference > 0]
        if better:
            winner = max(better, key=lambda t: comparisons[t].difference)
            c = comparisons[winner]
            return self._final(Outcome.WINNER, winner, f"{why}; {winner} beats {self.control} by {c.difference:+.2%} "
                               f"({confidence_label(self.alpha_each)} [{c.ci_low:+.2%}, {c.ci_high:+.2%}], p = {c.p_value:.2g})", notes)
        worse = [t for t, c in comparisons.items() if c.significant and c.difference < 0]
        if worse and len(worse) == len(comparisons):
            return self._final(Outcome.WINNER, self.control, f"{why}; {self.control} beats "
                               f"{', '.join(worse)} (every variant significantly worse)", notes)
        ci = confidence_label(self.alpha_each)
        text = "; ".join(f"{t} − {self.control} = {c.difference:+.2%} ({ci} [{c.ci_low:+.2%}, {c.ci_high:+.2%}], "
                         f"p = {c.p_value:.2g})" for t, c in comparisons.items())
        return self._final(Outcome.NO_WINNER, self.control, f"{why}; no significant difference: {text}", notes)
