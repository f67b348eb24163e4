"""The truncated beta-mixture test: its closed form against numerical integration, and Ville's bound by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import beta as beta_dist

from rolloutlab.stats.bernoulli_sequence import below, exceeds, log_mixture_ratio


def _integrated(s: int, n: int, bound: float, above: bool, a: float = 1.0, b: float = 1.0) -> float:
    """The mixture ∫ (p/bound)^s ((1-p)/(1-bound))^(n-s) π(p) dp over one side, by quadrature."""
    lo, hi = (bound, 1.0) if above else (0.0, bound)
    mass = beta_dist.cdf(hi, a, b) - beta_dist.cdf(lo, a, b)
    f = lambda p: math.exp(s * math.log(p / bound) + (n - s) * math.log((1 - p) / (1 - bound))) * beta_dist.pdf(p, a, b)  # noqa: E731
    value, _ = integrate.quad(f, lo, hi, limit=200, points=[s / n] if lo < s / n < hi else None)
    return value / mass


@pytest.mark.parametrize("s,n,bound,above", [(0, 50, 0.01, False), (3, 40, 0.01, True), (10, 100, 0.05, True),
                                              (1, 200, 0.05, False), (45, 50, 0.91, False), (30, 30, 0.5, True)])
def test_closed_form_matches_numerical_integration(s: int, n: int, bound: float, above: bool) -> None:
    assert log_mixture_ratio(s, n, bound, above) == pytest.approx(math.log(_integrated(s, n, bound, above)), rel=1e-6,
                                                                  abs=1e-9)


def test_flaky_build_is_conclusive_within_a_few_dozen_requests_and_a_clean_one_never_breaches() -> None:
    assert exceeds(6, 40, 0.01, 0.01)  # 15 % errors in 40 requests: far past 1 %
    assert not exceeds(1, 40, 0.01, 0.01)  # one error in 40 is no proof
    assert not below(0, 50, 0.01, 0.01)  # 50 clean requests cannot prove an error rate under 1 %
    assert below(0, 700, 0.01, 0.01)  # ≈ 650 can (a uniform prior below 1 %)


def test_continuous_monitoring_keeps_the_error_at_most_alpha() -> None:
    """Ville: at p = bound, looking after every observation, the share of sequences that ever reject ≤ α."""
    rng = np.random.default_rng(3)
    alpha, bound, n, runs = 0.05, 0.05, 300, 400
    draws = rng.random((runs, n)) < bound
    successes = np.cumsum(draws, axis=1)
    ever = sum(any(exceeds(int(successes[r, t]), t + 1, bound, alpha) or below(int(successes[r, t]), t + 1, bound, alpha)
                   for t in range(0, n, 3)) for r in range(runs))
    # both sides together: ≤ 2 α, with room for the binomial noise of 400 sequences
    assert ever / runs <= 2 * alpha + 0.03


def test_bad_input_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="bound"):
        log_mixture_ratio(1, 10, 1.0, True)
    with pytest.raises(ValueError, match="successes"):
        log_mixture_ratio(11, 10, 0.5, True)
