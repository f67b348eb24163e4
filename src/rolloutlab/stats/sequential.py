"""An always-valid sequential test: the mixture SPRT (mSPRT) for a difference of two means.

Johari, Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (2017/2022): with a
normal mixing distribution N(0, τ²) over the effect, the mixture likelihood ratio after observing an
estimate θ̂ with variance V is

    Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))

and p = min over time of 1/Λ is a p-value that stays valid however often it is looked at: stopping the
first time p < α keeps the false-positive rate at most α. No library ships it; tests check the closed
form against direct numerical integration of the mixture.
"""

from __future__ import annotations

import math


def mixture_likelihood_ratio(estimate: float, variance: float, tau2: float) -> float:
    """Λ for an effect estimate with the given variance, under a N(0, tau2) mixture over the effect."""
    if not variance > 0:
        return 1.0
    log = 0.5 * math.log(variance / (variance + tau2)) + tau2 * estimate**2 / (2 * variance * (variance + tau2))
    return math.exp(min(log, 700.0))


def always_valid_p(previous_p: float, estimate: float, variance: float, tau2: float) -> float:
    """The running always-valid p-value: never increases, min(previous, 1/Λ)."""
    return min(previous_p, 1.0 / mixture_likelihood_ratio(estimate, variance, tau2))


def default_tau2(mde: float) -> float:
    """Mixing variance matched to the effect the test is designed for (τ = the MDE)."""
    return mde**2
