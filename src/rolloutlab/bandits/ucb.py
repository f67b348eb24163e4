"""UCB1, batched: the arm with the highest upper confidence bound (mean + sqrt(2 ln t / n)) takes the
interval's traffic beyond the floors; an arm with no trials yet has an infinite bound."""

from __future__ import annotations

import math

from rolloutlab.bandits.base import ArmEvidence, to_weights
from rolloutlab.bandits.thompson import probability_best


def upper_bounds(evidence: dict[str, ArmEvidence]) -> dict[str, float]:
    total = sum(e.trials for e in evidence.values())
    return {a: (math.inf if e.trials <= 0 else e.mean + math.sqrt(2 * math.log(max(total, 1.0)) / e.trials))
            for a, e in evidence.items()}


class Ucb1:
    def allocate(self, evidence: dict[str, ArmEvidence], floor_percent: int,
                 seed: int) -> tuple[dict[str, int], dict[str, float]]:
        bounds = upper_bounds(evidence)
        top = max(sorted(bounds), key=lambda a: bounds[a])
        return to_weights({a: 1.0 if a == top else 0.0 for a in bounds}, floor_percent), probability_best(evidence, seed)
