"""Per-row feature attributions: exact for a linear model, occlusion to the training mean otherwise.

Linear (v1): feature j's share of the predicted class' logit relative to the mean input,
coef[k, j] · (x_j − mean_j) — exact, the terms add up to logit(x) − logit(mean).
Others (the SVM's decision function, the kNN's probabilities): the drop of the predicted class' score
when pixel j alone is reset to its training mean. One model call covers all 64 occlusions of a batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model._base import LinearClassifierMixin

from rolloutlab.drift.reference import scores


def is_linear(model: Any) -> bool:
    return isinstance(model, LinearClassifierMixin)


def attributions(model: Any, x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(rows, features) attributions of each row's predicted class."""
    if len(x) == 0:
        return np.zeros_like(x)
    if is_linear(model):
        predicted = np.searchsorted(model.classes_, model.predict(x))
        return model.coef_[predicted] * (x - mean)
    base = scores(model, x)
    predicted = base.argmax(axis=1)
    rows, n_features = x.shape
    occluded = np.repeat(x[None, :, :], n_features, axis=0)  # (features, rows, features)
    occluded[np.arange(n_features), :, np.arange(n_features)] = mean[:, None]
    after = scores(model, occluded.reshape(-1, n_features)).reshape(n_features, rows, -1)
    picked = after[:, np.arange(rows), predicted]  # (features, rows)
    return (base[np.arange(rows), predicted][None, :] - picked).T
