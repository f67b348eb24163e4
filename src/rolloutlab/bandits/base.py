"""What every bandit policy shares: per-arm evidence, and integer weights that keep every arm learning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ArmEvidence:
    """Rewards seen for one arm and how many chances it had (labelled requests, plus failed ones: reward 0)."""

    successes: float
    trials: float

    @property
    def mean(self) -> float:
        return self.successes / self.trials if self.trials > 0 else 0.0


class BanditPolicy(Protocol):
    # allocate returns a weight per arm (integers summing to 100, each at least floor_percent) and,
    # per arm, the estimated probability that it is the best one.
    def allocate(self, evidence: dict[str, ArmEvidence], floor_percent: int,
                 seed: int) -> tuple[dict[str, int], dict[str, float]]: ...


def to_weights(shares: dict[str, float], floor_percent: int) -> dict[str, int]:
    """Integer percentages proportional to shares, each at least floor_percent, summing to exactly 100."""
    arms = sorted(shares)
    spare = 100 - floor_percent * len(arms)
    if spare < 0:
        raise ValueError(f"a floor of {floor_percent}% per arm does not fit {len(arms)} arms")
    total = sum(max(0.0, shares[a]) for a in arms)
    exact = {a: spare * (max(0.0, shares[a]) / total if total > 0 else 1 / len(arms)) for a in arms}
    weights = {a: floor_percent + int(exact[a]) for a in arms}
    left = 100 - sum(weights.values())
    for arm in sorted(arms, key=lambda a: (int(exact[a]) - exact[a], a))[:left]:
        weights[arm] += 1  # largest remainders first
    return weights
