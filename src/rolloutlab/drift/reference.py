"""The reference a window is compared with: the training split, binned, with the model's view of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rolloutlab.zoo.scripts import load_script

# The pixels are integers 0..16: five bins of (mostly) four intensities each; 0 alone, as most pixels are 0.
BIN_EDGES = np.array([0.5, 4.5, 8.5, 12.5])
N_BINS = len(BIN_EDGES) + 1


def binned(x: np.ndarray) -> np.ndarray:
    """Bin index 0..N_BINS-1 of every value (values outside 0..16 fall into the end bins)."""
    return np.digitize(x, BIN_EDGES)


def bin_counts(x: np.ndarray) -> np.ndarray:
    """(features, bins) counts of a (rows, features) window."""
    bins = binned(x)
    return np.stack([np.bincount(bins[:, j], minlength=N_BINS) for j in range(x.shape[1])])


@dataclass(frozen=True)
class Reference:
    """Training features, their bin counts, means and the features constant in them."""

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    constant: np.ndarray  # indices of features with one value in the reference
    constant_value: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> Reference:
        constant = np.flatnonzero(x.std(axis=0) == 0)
        return cls(x, y, bin_counts(x), x.mean(axis=0), constant, x[0, constant] if len(x) else constant)


def training_reference() -> Reference:
    """The training split every catalogue version is trained on (models/training.py)."""
    x_train, _, y_train, _ = load_script("training").split()
    return Reference.of(np.asarray(x_train, dtype=float), np.asarray(y_train))


def holdout() -> tuple[np.ndarray, np.ndarray]:
    """The held-out rows the load replays: undrifted traffic, for calibration."""
    _, x_holdout, _, y_holdout = load_script("training").split()
    return np.asarray(x_holdout, dtype=float), np.asarray(y_holdout)


def scores(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's per-class scores: probabilities where it gives them, else its decision function."""
    if hasattr(model, "predict_proba") and getattr(model, "probability", True):
        return np.asarray(model.predict_proba(x))
    return np.asarray(model.decision_function(x))


def has_probabilities(model: Any) -> bool:
    return hasattr(model, "predict_proba") and getattr(model, "probability", True)
