"""Alarm thresholds calibrated on undrifted traffic, to a stated false-alarm rate.

The load replays the 540 held-out rows, which differ from the training reference by chance alone: a
nominal p < 0.05 would alarm in most windows. So each statistic's null distribution is measured on
windows drawn from the held-out rows (as the load draws them) and the threshold put where a window
alarms with probability `alpha` = 1 / (evaluations per hour) — at most one false alarm per hour per
detector, counting every evaluation as independent (sliding windows overlap, so the real rate is lower).
The tail beyond the measured windows is extrapolated peaks-over-threshold style: the excesses over the
null's 80th percentile fitted by an exponential (a generalised Pareto of shape 0), whose quantile at
alpha is the threshold — never inside the most extreme null value. A normal fit (mean + z·sd) was tried
first and alarmed on 2 of 84 undrifted windows (-log10 p-values have an exponential, not a normal, tail).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rolloutlab.drift.window import DIRECTIONS, Facts, VersionDetectors

NULL_WINDOWS = 120
TAIL_FROM = 0.8  # the exponential tail is fitted to the null windows beyond this quantile


def alpha_per_hour(evaluations_per_hour: float, false_alarms_per_hour: float = 1.0) -> float:
    return min(0.5, false_alarms_per_hour / max(evaluations_per_hour, 1.0))


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, float]
    alpha: float

    def alarms(self, stats: dict[str, float]) -> dict[str, bool]:
        """Which statistics are past their threshold (False where a statistic is NaN)."""
        out = {}
        for name, value in stats.items():
            limit = self.values.get(name, float("nan"))
            if math.isnan(value) or math.isnan(limit):
                out[name] = False
            else:
                out[name] = value > limit if DIRECTIONS[name] > 0 else value < limit
        return out


def null_statistics(detectors: VersionDetectors, holdout: Facts, window: int, windows: int = NULL_WINDOWS,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Each statistic over `windows` windows of `window` held-out rows drawn with replacement."""
    rng = np.random.default_rng(seed)
    collected: dict[str, list[float]] = {name: [] for name in DIRECTIONS}
    for _ in range(windows):
        stats = detectors.statistics(holdout.take(rng.integers(0, len(holdout.x), size=window)))
        for name, value in stats.items():
            collected[name].append(value)
    return {name: np.asarray(values) for name, values in collected.items()}


def tail_threshold(sample: np.ndarray, alpha: float) -> float:
    """The value a null sample exceeds with probability alpha (exponential tail beyond its TAIL_FROM quantile)."""
    start = float(np.quantile(sample, TAIL_FROM))
    excess = sample[sample > start] - start
    scale = float(excess.mean()) if len(excess) else 0.0
    return max(start + scale * math.log((1 - TAIL_FROM) / alpha), float(sample.max()))


def calibrate(null: dict[str, np.ndarray], alpha: float) -> Thresholds:
    values = {}
    for name, sample in null.items():
        sample = sample[~np.isnan(sample)]
        if len(sample) == 0:
            values[name] = float("nan")
        elif DIRECTIONS[name] > 0:
            values[name] = tail_threshold(sample, alpha)
        else:
            values[name] = -tail_threshold(-sample, alpha)
    return Thresholds(values, alpha)
