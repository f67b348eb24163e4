"""Multi-armed bandit: every interval the policy turns each arm's rewards so far into new weights; the run
stops when one arm stays the likely best for a few intervals, or at the time budget. Regret is counted
against an oracle that knows each arm's true reward rate (its held-out accuracy) (pure).

What users saw is the reward: a request answered 5xx got no prediction and never gets a label, so it
counts as a trial with reward 0, and in regret as the whole reward the best arm would have given."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rolloutlab.bandits.base import ArmEvidence, BanditPolicy, to_weights
from rolloutlab.routing import RoutingState
from rolloutlab.strategies.base import Outcome, Record, Step


@dataclass(frozen=True)
class BanditProgress:
    round: int = 0
    started_s: float | None = None
    leader: str | None = None
    streak: int = 0  # intervals in a row the leader's P(best) was above the stop probability
    regret: float = 0.0  # expected reward lost against always serving the best arm
    equal_split_regret: float = 0.0  # the same for an equal split over the same requests (an A/B test)
    requests: dict[str, float] = field(default_factory=dict)  # tallied requests at the previous round
    errors: dict[str, float] = field(default_factory=dict)  # tallied failed requests at the previous round


@dataclass(frozen=True)
class Bandit:
    baseline: str
    arms: tuple[str, ...]
    policy: BanditPolicy
    interval: float
    floor: int
    stop_probability: float
    stop_intervals: int
    max_duration: float
    true_rates: dict[str, float]  # the oracle: each arm's held-out accuracy
    seed: int = 0
    on_no_winner: str = "baseline"  # "baseline" | "best": where traffic goes when the budget ends undecided

    def _safe(self) -> RoutingState:
        return RoutingState({a: (100 if a == self.baseline else 0) for a in self.arms}, reason="abort")

    def _round(self, weights: dict[str, int], progress: BanditProgress, reason: str, notes: dict) -> Step:
        return Step(RoutingState(weights, reason=reason), self.interval, f"bandit round {progress.round + 1}",
                    "explore", self._safe(), tally=self.arms, reason=reason, memory=progress, notes=notes)

    def _final(self, outcome: Outcome, winner: str, reason: str, notes: dict) -> Step:
        state = RoutingState({a: (100 if a == winner else 0) for a in self.arms}, reason=reason)
        return Step(state, 0.0, outcome.value, "done", state, outcome=outcome, reason=reason, notes=notes)

    def first(self) -> Step:
        weights = to_weights({a: 1.0 for a in self.arms}, self.floor)
        return self._round(weights, BanditProgress(), "equal split while nothing is known", {"weights": weights})

    def next(self, history: tuple[Record, ...]) -> Step:
        last = history[-1]
        obs = last.observation
        progress: BanditProgress = last.step.memory
        started = progress.started_s if progress.started_s is not None else obs.elapsed_s - self.interval
        tallies = obs.tallies
        if any(a not in tallies for a in self.arms):
            progress = replace(progress, started_s=started)
            return self._round(last.step.state.weights, progress, "no counts from Prometheus this round; holding", {})
        # Clamped: counters read a moment apart must never make a posterior improper.
        evidence = {a: ArmEvidence(max(0.0, min(tallies[a].reward, tallies[a].feedback)),
                                   max(0.0, tallies[a].feedback) + max(0.0, tallies[a].errors)) for a in self.arms}
        weights, p_best = self.policy.allocate(evidence, self.floor, self.seed + progress.round)
        best_rate = max(self.true_rates[a] for a in self.arms)
        mean_rate = sum(self.true_rates[a] for a in self.arms) / len(self.arms)
        served = {a: tallies[a].requests - progress.requests.get(a, 0.0) for a in self.arms}
        failed = {a: max(0.0, tallies[a].errors - progress.errors.get(a, 0.0)) for a in self.arms}
        # A served request's expected reward is its arm's rate; a failed one's is 0 (it lost the rate too).
        regret = progress.regret + sum(n * (best_rate - self.true_rates[a]) + failed[a] * self.true_rates[a]
                                       for a, n in served.items())
        error_share = {a: (tallies[a].errors / tallies[a].requests if tallies[a].requests > 0 else 0.0) for a in self.arms}
        mean_lost = sum(error_share[a] * self.true_rates[a] for a in self.arms) / len(self.arms)
        equal = progress.equal_split_regret + sum(served.values()) * (best_rate - mean_rate + mean_lost)
        leader = max(self.arms, key=lambda a: p_best[a])
        sure = p_best[leader] >= self.stop_probability
        streak = (progress.streak + 1 if leader == progress.leader else 1) if sure else 0
        progress = BanditProgress(progress.round + 1, started, leader, streak, regret, equal,
                                  {a: tallies[a].requests for a in self.arms}, {a: tallies[a].errors for a in self.arms})
        notes = {
            "round": progress.round, "weights": weights, "p_best": p_best,
            "rates": {a: (e.mean if e.trials else None) for a, e in evidence.items()},
            "labelled": {a: e.trials for a, e in evidence.items()}, "served": served, "failed": failed,
            "regret": round(regret, 2), "equal_split_regret": round(equal, 2), "oracle": self.true_rates,
            "progress": (f"bandit round {progress.round}: " + ", ".join(
                f"{a} {weights[a]}% (P(best) {p_best[a]:.2f}, {evidence[a].mean:.1%} of {evidence[a].trials:.0f})"
                for a in self.arms) + f"; regret {regret:.1f} vs {equal:.1f} for an equal split"),
        }
        if streak >= self.stop_intervals:
            return self._final(Outcome.WINNER, leader, f"{leader} was the best arm with P ≥ {self.stop_probability:g} "
                               f"for {streak} intervals in a row", notes)
        if obs.elapsed_s - started >= self.max_duration:
            to = leader if self.on_no_winner == "best" else self.baseline
            shown = ", ".join(f"{a} {evidence[a].mean:.1%} of {evidence[a].trials:.0f} (P(best) {p_best[a]:.2f})"
                              for a in sorted(self.arms, key=lambda a: -p_best[a]))
            return self._final(Outcome.NO_WINNER, to, f"time budget of {self.max_duration:g}s spent without a winner; "
                               f"the data showed {leader} best with P(best) {p_best[leader]:.2f} (reward rates, "
                               f"failed requests as 0: {shown}); traffic on {to} (on_no_winner: {self.on_no_winner})",
                               notes)
        return self._round(weights, progress, f"reweighted from {sum(e.trials for e in evidence.values()):.0f} "
                           "rewards", notes)
