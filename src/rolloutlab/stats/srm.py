"""Sample-ratio mismatch: were units split across arms as configured? (chi-square goodness of fit)."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import chisquare


@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    threshold: float
    observed: dict[str, float]
    expected: dict[str, float]

    @property
    def mismatch(self) -> bool:
        """A p-value this small says the split itself is broken: the test's result cannot be trusted."""
        return self.p_value < self.threshold


def srm_check(observed: dict[str, float], shares: dict[str, float], threshold: float = 0.001) -> SrmResult:
    """Chi-square of the observed units per arm against the configured shares (any scale; normalised here)."""
    arms = sorted(shares)
    total_share = sum(shares[a] for a in arms)
    n = sum(observed.get(a, 0.0) for a in arms)
    expected = {a: n * shares[a] / total_share for a in arms}
    if n == 0:
        return SrmResult(0.0, 1.0, threshold, {a: 0.0 for a in arms}, expected)
    chi2, p = chisquare([observed.get(a, 0.0) for a in arms], [expected[a] for a in arms])
    return SrmResult(float(chi2), float(p), threshold, {a: float(observed.get(a, 0.0)) for a in arms}, expected)
