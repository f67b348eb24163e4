"""Statistics checked against statsmodels/scipy reference values and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.proportion import proportions_ztest

from rolloutlab.stats.power import sample_size_per_arm
from rolloutlab.stats.proportions import UserMoments, compare_requests, compare_users
from rolloutlab.stats.sequential import always_valid_p, mixture_likelihood_ratio
from rolloutlab.stats.srm import srm_check


def test_sample_size_matches_the_textbook_value_for_cohens_h() -> None:
    # h = 2 asin(sqrt(.55)) - 2 asin(sqrt(.5)) = 0.1001674; per arm n = 2 ((1.959964 + 0.841621) / h)^2 = 1564.5
    assert sample_size_per_arm(0.50, 0.05, alpha=0.05, power=0.80) == 1565
    assert sample_size_per_arm(0.94, 0.03, alpha=0.05, power=0.80) > sample_size_per_arm(0.94, 0.05, 0.05, 0.80)


def test_sample_size_refuses_rates_outside_zero_one() -> None:
    with pytest.raises(ValueError):
        sample_size_per_arm(1.0, 0.01, 0.05, 0.8)


def test_srm_flags_a_broken_split_and_passes_a_fair_one() -> None:
    assert not srm_check({"a": 5040, "b": 4960}, {"a": 50, "b": 50}).mismatch
    broken = srm_check({"a": 5400, "b": 4600}, {"a": 50, "b": 50})
    assert broken.mismatch and broken.p_value == pytest.approx(stats.chisquare([5400, 4600]).pvalue)
    assert not srm_check({"a": 2010, "b": 7990}, {"a": 20, "b": 80}).mismatch


def test_request_level_comparison_is_statsmodels_two_proportion_test() -> None:
    c = compare_requests((940, 1000), (980, 1000), alpha=0.05)
    assert c.p_value == pytest.approx(proportions_ztest([980, 940], [1000, 1000])[1])
    assert c.difference == pytest.approx(0.04) and c.significant and c.ci_low > 0


def moments(per_user: list[tuple[float, float]]) -> UserMoments:
    y = np.array([u[0] for u in per_user])
    n = np.array([u[1] for u in per_user])
    return UserMoments(len(per_user), y.sum(), n.sum(), (y**2).sum(), (n**2).sum(), (y * n).sum())


def test_delta_method_with_one_request_per_user_is_the_wald_test() -> None:
    control = moments([(1, 1)] * 940 + [(0, 1)] * 60)
    treatment = moments([(1, 1)] * 980 + [(0, 1)] * 20)
    wald_se = math.sqrt(0.94 * 0.06 / 1000 + 0.98 * 0.02 / 1000)
    c = compare_users(control, treatment, alpha=0.05)
    assert c.difference == pytest.approx(0.04)
    assert (c.ci_high - c.ci_low) / 2 == pytest.approx(1.959964 * wald_se, rel=1e-6)
    assert control.design_effect() == pytest.approx(1.0)


def test_delta_method_widens_the_interval_when_a_users_requests_are_alike() -> None:
    # Users who are always right or always wrong: 10 requests each, perfectly correlated within a user.
    rng = np.random.default_rng(3)
    users = [(10.0 * (rng.random() < 0.9), 10.0) for _ in range(300)]
    m = moments(users)
    assert m.design_effect() == pytest.approx(10.0, rel=0.05)  # 1 + (m - 1) * rho with rho = 1
    # and the delta-method variance agrees with a bootstrap over users
    boot = []
    arr = np.array(users)
    for _ in range(2000):
        sample = arr[rng.integers(0, len(arr), len(arr))]
        boot.append(sample[:, 0].sum() / sample[:, 1].sum())
    assert math.sqrt(m.ratio_variance()) == pytest.approx(np.std(boot), rel=0.1)


def test_mixture_likelihood_ratio_matches_numerical_integration() -> None:
    for estimate, variance, tau2 in [(0.02, 1e-4, 4e-4), (0.0, 5e-5, 1e-3), (-0.05, 2e-4, 1e-4)]:
        sd = math.sqrt(variance)

        def integrand(theta: float) -> float:
            return stats.norm.pdf(estimate, theta, sd) * stats.norm.pdf(theta, 0, math.sqrt(tau2))

        mixture, _ = integrate.quad(integrand, -1, 1, points=[0, estimate], limit=200)
        reference = mixture / stats.norm.pdf(estimate, 0, sd)
        assert mixture_likelihood_ratio(estimate, variance, tau2) == pytest.approx(reference, rel=1e-6)


def test_always_valid_p_never_increases() -> None:
    p = 1.0
    for estimate in (0.05, 0.0, 0.0):
        p_next = always_valid_p(p, estimate, 1e-4, 1e-4)
        assert p_next <= p
        p = p_next
