"""Epsilon-greedy, batched: the best mean so far gets 1 − ε of the traffic, ε is spread evenly."""

from __future__ import annotations

from dataclasses import dataclass

from rolloutlab.bandits.base import ArmEvidence, to_weights
from rolloutlab.bandits.thompson import probability_best


@dataclass(frozen=True)
class EpsilonGreedy:
    epsilon: float = 0.1

    def allocate(self, evidence: dict[str, ArmEvidence], floor_percent: int,
                 seed: int) -> tuple[dict[str, int], dict[str, float]]:
        arms = sorted(evidence)
        leader = max(arms, key=lambda a: (evidence[a].mean, evidence[a].trials))
        shares = {a: self.epsilon / len(arms) + (1 - self.epsilon if a == leader else 0.0) for a in arms}
        # P(best) is reported for every policy the same way, so runs of different policies compare.
        return to_weights(shares, floor_percent), probability_best(evidence, seed)
