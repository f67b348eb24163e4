"""Sample size per arm for a two-proportion test, from the minimum detectable effect, alpha and power."""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize


def sample_size_per_arm(baseline_rate: float, mde: float, alpha: float, power: float, ratio: float = 1.0) -> int:
    """Observations the baseline arm needs (the other arm needs ratio × as many) to detect an absolute
    change of `mde` in a rate of `baseline_rate` with a two-sided test (Cohen's h, normal approximation)."""
    if not 0 < baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in (0, 1), got {baseline_rate}")
    target = baseline_rate + mde if baseline_rate + mde < 1 else baseline_rate - mde
    if not 0 < target < 1 or mde <= 0:
        raise ValueError(f"an effect of {mde} on a rate of {baseline_rate} leaves (0, 1)")
    effect = abs(proportion_effectsize(target, baseline_rate))
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio,
                                     alternative="two-sided")
    return math.ceil(float(n))
