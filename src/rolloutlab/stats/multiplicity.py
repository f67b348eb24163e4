"""The one multiple-comparison rule of A/B/n tests: Bonferroni, alpha split evenly over the comparisons.

Every treatment is compared with the control, so k treatments make k tests; each is run (sample size,
fixed-horizon decision, confidence interval, sequential boundary) at alpha / k, which keeps the chance
of any false winner at most alpha. Holm would be a little more powerful at the fixed horizon, but its
per-test level depends on the other p-values, which a sample size and a printed interval cannot.
"""

from __future__ import annotations


def per_comparison_alpha(alpha: float, comparisons: int) -> float:
    """The level each of `comparisons` tests runs at so the family-wise error stays at most `alpha`."""
    if comparisons < 1:
        raise ValueError(f"comparisons must be at least 1, got {comparisons}")
    return alpha / comparisons


def confidence_label(alpha: float) -> str:
    """How an interval at this level is printed: 95% for 0.05, 97.5% for 0.025, 98.33% for 0.05 / 3."""
    level = 100 * (1 - alpha)
    return f"{level:.2f}".rstrip("0").rstrip(".") + "% CI"
