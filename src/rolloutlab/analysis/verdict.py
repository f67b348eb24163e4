"""Verdicts, the measurements they are made from, and one check's result (measuring and judging stay apart)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"  # too little data to judge: never a pass
    ERROR = "Error"  # the metrics backend could not be read


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class VersionMetrics:
    """One version's traffic over one window, as Prometheus saw it (NaN where it had no data)."""

    version: str
    window_s: float
    requests: float
    errors: float
    p95_ms: float
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    feedback: float = 0.0  # labels/rewards that arrived in the window
    reward: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan

    @property
    def accuracy(self) -> float:
        return self.reward / self.feedback if self.feedback > 0 else math.nan

    @property
    def rps(self) -> float:
        return self.requests / self.window_s if self.window_s > 0 else math.nan

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(error_rate=self.error_rate, accuracy=self.accuracy, rps=self.rps)
        return {k: _clean(v) for k, v in data.items()}


@dataclass(frozen=True)
class CheckResult:
    """One check of one version over one window: the query, the value, the bound it was held to, the verdict."""

    name: str
    metric: str
    version: str
    query: str
    value: float
    threshold: float | None  # the bound the value was held to (already relative to the reference, if any)
    bound: str  # how the bound was set, e.g. "≤ 1.5 × v1 (4.2 ms) or + 10 ms"
    samples: float
    min_samples: int
    verdict: Verdict
    message: str
    reference: float | None = None
    conclusive: bool = False  # decided by an always-valid sequential test (not by the fixed rule)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return {k: _clean(v) for k, v in data.items()}


@dataclass(frozen=True)
class Assessment:
    """The combined verdict of a step's checks: Failed beats Error beats Inconclusive beats Successful."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...] = field(default=())
    candidate: VersionMetrics | None = None
    baseline: VersionMetrics | None = None

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def combine(results: tuple[CheckResult, ...]) -> Verdict:
    """A known failure decides; an unreadable backend or missing data is never a pass."""
    verdicts = {r.verdict for r in results}
    for verdict in (Verdict.FAILED, Verdict.ERROR, Verdict.INCONCLUSIVE):
        if verdict in verdicts:
            return verdict
    return Verdict.SUCCESSFUL if results else Verdict.INCONCLUSIVE
