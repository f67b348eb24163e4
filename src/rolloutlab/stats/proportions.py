"""Compare two arms' reward rates: per-request (statsmodels), or per-user clusters by the delta method.

Users are the unit randomised (sticky routing), requests the unit analysed. Requests of one user are
correlated (the same user's digits are alike), so treating them as independent understates the
variance. The delta method for a ratio of per-user sums (Deng et al., "Applying the Delta Method in
Metric Analytics", KDD 2018) gives the right variance from five per-user sums that can be kept as
counters: users, Σ rewards, Σ labels, Σ rewards², Σ labels², Σ rewards·labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest


@dataclass(frozen=True)
class UserMoments:
    """Per-user sums of one arm: n users; Y = a user's rewards, N = a user's labelled requests."""

    users: float
    sum_y: float
    sum_n: float
    sum_y2: float
    sum_n2: float
    sum_yn: float

    @property
    def rate(self) -> float:
        return self.sum_y / self.sum_n if self.sum_n > 0 else math.nan

    def ratio_variance(self) -> float:
        """Delta-method variance of rate = ΣY / ΣN across users (population moments)."""
        n = self.users
        if n < 2 or self.sum_n <= 0:
            return math.nan
        mean_y, mean_n = self.sum_y / n, self.sum_n / n
        var_y = self.sum_y2 / n - mean_y**2
        var_n = self.sum_n2 / n - mean_n**2
        cov = self.sum_yn / n - mean_y * mean_n
        r = mean_y / mean_n
        return max(0.0, (var_y - 2 * r * cov + r**2 * var_n) / (n * mean_n**2))

    def design_effect(self) -> float:
        """How much wider the clustered variance is than if every request were independent."""
        p = self.rate
        naive = p * (1 - p) / self.sum_n if self.sum_n > 0 else math.nan
        return self.ratio_variance() / naive if naive and naive > 0 else math.nan


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control: the difference of rates, its confidence interval, and a two-sided p-value."""

    control_rate: float
    treatment_rate: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    variance: float = math.nan  # of the difference (its standard error squared), whatever alpha the CI used

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def compare_requests(control: tuple[float, float], treatment: tuple[float, float], alpha: float) -> Comparison:
    """Two-proportion z-test over independent requests: (successes, trials) per arm (statsmodels)."""
    (sc, nc), (st, nt) = control, treatment
    _z, p = proportions_ztest([st, sc], [nt, nc])
    low, high = confint_proportions_2indep(st, nt, sc, nc, method="wald", compare="diff", alpha=alpha)
    return Comparison(sc / nc, st / nt, st / nt - sc / nc, float(low), float(high), float(p),
                      "two-proportion z-test (requests as independent)")


def compare_users(control: UserMoments, treatment: UserMoments, alpha: float) -> Comparison:
    """Difference of per-arm reward rates with delta-method standard errors (users as clusters)."""
    difference = treatment.rate - control.rate
    variance = control.ratio_variance() + treatment.ratio_variance()
    se = math.sqrt(variance) if variance == variance else math.nan
    if not se > 0:
        return Comparison(control.rate, treatment.rate, difference, math.nan, math.nan, math.nan, "delta method")
    z = difference / se
    half = norm.ppf(1 - alpha / 2) * se
    return Comparison(control.rate, treatment.rate, difference, difference - half, difference + half,
                      float(2 * norm.sf(abs(z))), "z-test, delta method over users", variance)
