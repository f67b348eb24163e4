"""Verdicts and the measurements they are made from."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum


class Verdict(str, Enum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"  # too little data to judge: never a pass
    ERROR = "Error"  # the metrics backend could not be read


@dataclass(frozen=True)
class VersionMetrics:
    """One version's traffic over one window, as Prometheus saw it."""

    version: str
    window_s: float
    requests: float
    errors: float
    p95_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else math.nan

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["error_rate"] = self.error_rate
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: tuple[str, ...]
    candidate: VersionMetrics | None = None
    baseline: VersionMetrics | None = None

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)
