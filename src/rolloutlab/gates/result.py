"""What one pre-deploy gate found: passed or not, one line with the numbers, and the numbers themselves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

Number = float | int | str | None


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    summary: str  # one line with the numbers, e.g. "accuracy 0.785 vs v1 0.944 (drop 0.159 > 0.010)"
    numbers: dict[str, Number] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False  # not run because an earlier gate failed (then passed is False too)

    def to_dict(self) -> dict[str, object]:
        """A plain dict for the JSONL journal."""
        return {**asdict(self), "numbers": dict(self.numbers)}

    def timed(self, seconds: float) -> GateResult:
        """The same result with its wall time filled in (judging is pure; the runner measures the time)."""
        return GateResult(self.name, self.passed, self.summary, dict(self.numbers), round(seconds, 3), self.skipped)
