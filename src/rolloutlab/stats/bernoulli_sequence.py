"""An always-valid one-sided test for a proportion against a bound: the truncated beta-mixture martingale.

For Bernoulli observations with s successes in n, the likelihood ratio of p against p0 mixed over a prior
π(p) is a nonnegative martingale under p0 (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021, §3.3 — the beta-binomial mixture).
With π a Beta(a, b) restricted to one side of p0, the ratio is a supermartingale for every p on the other
side (the per-observation factor's mean grows monotonically in the true p), so by Ville's inequality

    P(sup_n M_n ≥ 1/α) ≤ α      for every p on the null side,

and stopping the first time M_n ≥ 1/α keeps the error at most α however often it is looked at. Its closed
form is a ratio of (incomplete) beta functions; the tests check it against numerical integration.
"""

from __future__ import annotations

import math

from scipy.special import betainc, betaln


def log_mixture_ratio(successes: float, n: float, bound: float, above: bool, a: float = 1.0, b: float = 1.0) -> float:
    """log M: the Beta(a, b) mixture over p > bound (above=True) or p < bound, against p = bound.

    Large when the data say p is beyond `bound` on that side; reject "p is on the other side" at level α
    once it reaches log(1/α)."""
    if not 0.0 < bound < 1.0:
        raise ValueError(f"bound must lie strictly between 0 and 1, got {bound}")
    s, f = float(successes), float(n) - float(successes)
    if s < 0 or f < 0:
        raise ValueError(f"need 0 ≤ successes ≤ n, got {successes} of {n}")
    # ∫ p^(a+s-1) (1-p)^(b+f-1) dp over the side, / (B(a, b) · prior mass of the side), / bound^s (1-bound)^f
    post = betainc(a + s, b + f, bound)  # regularised: mass below the bound
    prior = betainc(a, b, bound)
    post_side, prior_side = (1.0 - post, 1.0 - prior) if above else (post, prior)
    if post_side <= 0.0:  # underflow: the data put (numerically) no mass on that side
        return -math.inf
    return (betaln(a + s, b + f) - betaln(a, b) + math.log(post_side) - math.log(prior_side)
            - s * math.log(bound) - f * math.log1p(-bound))


def exceeds(successes: float, n: float, bound: float, alpha: float) -> bool:
    """Conclusive evidence, valid under continuous monitoring at level alpha, that p > bound."""
    return n > 0 and successes / n > bound and log_mixture_ratio(successes, n, bound, True) >= math.log(1 / alpha)


def below(successes: float, n: float, bound: float, alpha: float) -> bool:
    """Conclusive evidence, valid under continuous monitoring at level alpha, that p < bound."""
    return n > 0 and successes / n < bound and log_mixture_ratio(successes, n, bound, False) >= math.log(1 / alpha)
