"""Thompson sampling, batched: each arm's weight is its posterior probability of being the best
(Beta-Bernoulli with a uniform prior), estimated by sampling the posteriors."""

from __future__ import annotations

import numpy as np

from rolloutlab.bandits.base import ArmEvidence, to_weights

DRAWS = 20_000


def probability_best(evidence: dict[str, ArmEvidence], seed: int, draws: int = DRAWS) -> dict[str, float]:
    arms = sorted(evidence)
    rng = np.random.default_rng(seed)
    samples = np.column_stack([
        rng.beta(1 + evidence[a].successes, 1 + max(0.0, evidence[a].trials - evidence[a].successes), draws)
        for a in arms
    ])
    wins = np.bincount(samples.argmax(axis=1), minlength=len(arms)) / draws
    return {a: float(w) for a, w in zip(arms, wins)}


class ThompsonSampling:
    def allocate(self, evidence: dict[str, ArmEvidence], floor_percent: int,
                 seed: int) -> tuple[dict[str, int], dict[str, float]]:
        best = probability_best(evidence, seed)
        return to_weights(best, floor_percent), best
