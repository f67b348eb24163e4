"""Prediction drift: chi² of the predicted classes vs the reference's, and the model's confidence/entropy."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2_contingency

N_CLASSES = 10


def prediction_drift(reference_predictions: np.ndarray, predictions: np.ndarray) -> float:
    """-log10 p of a chi² test of predicted-class counts, window vs reference."""
    table = np.stack([np.bincount(reference_predictions, minlength=N_CLASSES),
                      np.bincount(predictions, minlength=N_CLASSES)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0
    return float(-np.log10(max(chi2_contingency(table, correction=False).pvalue, 1e-300)))


def confidence(probabilities: np.ndarray) -> float:
    """Mean top-class probability."""
    return float(probabilities.max(axis=1).mean())


def entropy(probabilities: np.ndarray) -> float:
    """Mean entropy (nats) of the predicted distributions."""
    p = np.clip(probabilities, 1e-12, 1.0)
    return float(-(p * np.log(p)).sum(axis=1).mean())
