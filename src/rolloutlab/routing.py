"""RoutingState: which version gets which share of traffic. Every strategy is a sequence of these."""

from __future__ import annotations

from dataclasses import dataclass, field

from rolloutlab.errors import RoutingError


@dataclass(frozen=True)
class RoutingState:
    """Integer weights per version (relative shares); generation counts applied states."""

    weights: dict[str, int]
    generation: int = 0
    reason: str = field(default="", compare=False)

    def validate(self, running: set[str] | frozenset[str]) -> None:
        """Raise RoutingError unless weights are non-negative integers on running versions with a positive total."""
        if not self.weights:
            raise RoutingError("routing state has no versions")
        for version, weight in self.weights.items():
            if version not in running:
                raise RoutingError(
                    f"routing state names version {version!r}, which is not running (running: {', '.join(sorted(running))})"
                )
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise RoutingError(f"weight of {version!r} must be a non-negative integer, got {weight!r}")
        if self.total <= 0:
            raise RoutingError("routing weights sum to 0: at least one version must receive traffic")

    @property
    def total(self) -> int:
        return sum(self.weights.values())

    def share(self, version: str) -> float:
        """Fraction of traffic routed to version."""
        return self.weights.get(version, 0) / self.total if self.total else 0.0

    def active(self) -> dict[str, int]:
        """Versions with a positive weight, in a stable order."""
        return {v: w for v, w in sorted(self.weights.items()) if w > 0}

    def describe(self) -> str:
        return ", ".join(f"{v} {100 * self.share(v):.0f}%" for v in sorted(self.weights))

    def to_dict(self) -> dict[str, object]:
        return {"generation": self.generation, "weights": dict(sorted(self.weights.items()))}


def split(baseline: str, candidate: str, candidate_percent: int) -> dict[str, int]:
    """Weights that send candidate_percent of traffic to the candidate and the rest to the baseline."""
    return {baseline: 100 - candidate_percent, candidate: candidate_percent}
