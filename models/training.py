"""Deterministic training on scikit-learn's bundled digits data set (no download, same split every time)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

SPLIT_SEED = 0
HOLDOUT_FRACTION = 0.3
N_FEATURES = 64

ALGORITHMS: dict[str, Any] = {
    "logistic_regression": LogisticRegression,
    "svc": SVC,
}


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_holdout, y_train, y_holdout), stratified and fixed by SPLIT_SEED."""
    features, labels = load_digits(return_X_y=True)
    return train_test_split(
        features, labels, test_size=HOLDOUT_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )


def train(recipe: dict[str, Any]) -> Any:
    """Fit the recipe's algorithm with its params on the training split."""
    algorithm = recipe["algorithm"]
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(sorted(ALGORITHMS))}")
    x_train, _, y_train, _ = split()
    return ALGORITHMS[algorithm](**recipe.get("params", {})).fit(x_train, y_train)


def holdout_rows() -> list[dict[str, Any]]:
    """Held-out rows as JSON-ready dicts: the features and the true label (for load tests and feedback)."""
    _, x_holdout, _, y_holdout = split()
    return [{"features": row.tolist(), "label": int(label)} for row, label in zip(x_holdout, y_holdout)]


def accuracy(model: Any) -> float:
    _, x_holdout, _, y_holdout = split()
    return float(model.score(x_holdout, y_holdout))
