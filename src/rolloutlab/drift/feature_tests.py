"""Per-feature chi² on binned pixels against the reference, Benjamini–Hochberg across the 64 features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2
from statsmodels.stats.multitest import multipletests

from rolloutlab.drift.reference import Reference, bin_counts


@dataclass(frozen=True)
class FeatureDrift:
    p_values: np.ndarray  # per feature (1.0 for features constant in the reference: new_values.py judges them)
    adjusted: np.ndarray  # Benjamini–Hochberg adjusted
    effect: np.ndarray  # Cramér's V per feature: how much each one moved, for impact weighting

    @property
    def score(self) -> float:
        """-log10 of the smallest adjusted p-value: the window's feature-drift statistic."""
        return float(-np.log10(max(float(self.adjusted.min()), 1e-300)))

    def drifted(self, alpha: float) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.adjusted < alpha)]


def feature_drift(reference: Reference, window: np.ndarray) -> FeatureDrift:
    """chi² of each feature's bin counts, window vs reference (2 × bins tables); BH over the features tested.

    The 64 tables are computed at once (the same statistic as scipy.stats.chi2_contingency without
    continuity correction; tests/unit/test_drift_detectors.py checks they agree).
    """
    observed = np.stack([reference.counts, bin_counts(window)], axis=1).astype(float)  # (features, 2, bins)
    column = observed.sum(axis=1, keepdims=True)
    row = observed.sum(axis=2, keepdims=True)
    total = observed.sum(axis=(1, 2), keepdims=True)
    expected = row * column / total
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)
    statistic = cells.sum(axis=(1, 2))
    dof = (column[:, 0, :] > 0).sum(axis=1) - 1
    n_features = window.shape[1]
    tested = np.ones(n_features, dtype=bool)
    tested[reference.constant] = False
    tested &= dof > 0
    p = np.ones(n_features)
    p[tested] = chi2.sf(statistic[tested], dof[tested])
    effect = np.where(tested, np.sqrt(statistic / total[:, 0, 0]), 0.0)
    adjusted = np.ones(n_features)
    if tested.any():
        adjusted[tested] = multipletests(p[tested], method="fdr_bh")[1]
    return FeatureDrift(p, adjusted, effect)
