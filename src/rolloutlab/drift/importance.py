"""The importance profile of a window vs the reference's: rank agreement (nDCG@10), L1, impact-weighted drift."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import ndcg_score

TOP_K = 10


def profile(attributions: np.ndarray) -> np.ndarray:
    """Mean |attribution| per feature, normalised to sum 1 (uniform when all are zero)."""
    mean = np.abs(attributions).mean(axis=0)
    total = mean.sum()
    return mean / total if total > 0 else np.full(len(mean), 1.0 / len(mean))


def ndcg_at_k(reference: np.ndarray, window: np.ndarray, k: int = TOP_K) -> float:
    """nDCG@k of the window's ranking of the features, graded by the reference's importances.

    1.0: the window's top k are the reference's top k in order; it falls as features the model relied
    on lose their importance and others take their place.
    """
    return float(ndcg_score(reference[None, :], window[None, :], k=k))


def l1_distance(reference: np.ndarray, window: np.ndarray) -> float:
    """Sum of |difference| of the two normalised profiles: 0 (same) … 2 (disjoint)."""
    return float(np.abs(reference - window).sum())


def impact_score(reference: np.ndarray, effect: np.ndarray) -> float:
    """Each feature's drift (effect size) weighted by its reference importance: drift where it matters."""
    return float((reference * effect).sum())
