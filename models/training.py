"""Deterministic training and offline evaluation on scikit-learn's bundled digits data (no download).

The held-out split is the same for every version (fixed by SPLIT_SEED and HOLDOUT_FRACTION), so
accuracies are comparable and the load generator's rows are never in any version's training data.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

SPLIT_SEED = 0
HOLDOUT_FRACTION = 0.3
N_FEATURES = 64
N_CLASSES = 10

# The names the catalogue's recipe.algorithm accepts (rolloutlab.zoo.schema lists the same names).
ALGORITHMS: dict[str, Any] = {
    "logistic_regression": LogisticRegression,
    "svc": SVC,
    "knn": KNeighborsClassifier,
    "mlp": MLPClassifier,
}


class RecipeError(ValueError):
    """A recipe the algorithm rejects; `field` is the path inside the version's entry."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_holdout, y_train, y_holdout), stratified and fixed by SPLIT_SEED."""
    features, labels = load_digits(return_X_y=True)
    return train_test_split(
        features, labels, test_size=HOLDOUT_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )


def training_data(data: dict[str, Any], corrupt_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training split, optionally subsampled (data.train_fraction) and with corrupted labels.

    Corruption replaces the label of a seeded random `corrupt_fraction` of rows with a different, random
    class: the `degraded` fault, a model that learned from bad annotations.
    """
    x_train, _, y_train, _ = split()
    rng = np.random.default_rng(seed)
    fraction = float(data.get("train_fraction", 1.0))
    if fraction < 1.0:
        keep = np.sort(rng.choice(len(y_train), size=max(N_CLASSES, round(fraction * len(y_train))), replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    if corrupt_fraction > 0:
        y_train = y_train.copy()
        flip = rng.random(len(y_train)) < corrupt_fraction
        shift = rng.integers(1, N_CLASSES, size=int(flip.sum()))
        y_train[flip] = (y_train[flip] + shift) % N_CLASSES  # never the true class
    return x_train, y_train


def train(recipe: dict[str, Any], corrupt_fraction: float = 0.0, seed: int = 0) -> Any:
    """Fit the recipe's algorithm with its params on the (possibly corrupted) training split."""
    algorithm = recipe["algorithm"]
    if algorithm not in ALGORITHMS:
        raise RecipeError("recipe.algorithm", f"unknown algorithm {algorithm!r}; known: {', '.join(sorted(ALGORITHMS))}")
    try:
        estimator = ALGORITHMS[algorithm](**recipe.get("params", {}))
    except TypeError as exc:
        raise RecipeError("recipe.params", f"{algorithm}: {exc}") from None
    x_train, y_train = training_data(recipe.get("data", {}), corrupt_fraction, seed)
    try:
        return estimator.fit(x_train, y_train)
    except (ValueError, TypeError) as exc:  # scikit-learn's parameter validation
        raise RecipeError("recipe.params", f"{algorithm}: {exc}") from None


def holdout_rows() -> list[dict[str, Any]]:
    """Held-out rows as JSON-ready dicts: the features and the true label (for load tests and feedback)."""
    _, x_holdout, _, y_holdout = split()
    return [{"features": row.tolist(), "label": int(label)} for row, label in zip(x_holdout, y_holdout)]


def accuracy(model: Any) -> float:
    _, x_holdout, _, y_holdout = split()
    return float(model.score(x_holdout, y_holdout))


def evaluate(model: Any, latency_calls: int = 300) -> dict[str, Any]:
    """Held-out accuracy and macro F1, and an in-process latency micro-benchmark of model.predict.

    Latency: `latency_calls` single-row calls (p50, p99) and full 64-row batches (per row), so serving
    overhead can be compared against the bare model.
    """
    _, x_holdout, _, y_holdout = split()
    predicted = model.predict(x_holdout)
    single = []
    for index in range(latency_calls):
        row = x_holdout[index % len(x_holdout)].reshape(1, -1)
        started = time.perf_counter()
        model.predict(row)
        single.append(time.perf_counter() - started)
    batch = x_holdout[:64]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        model.predict(batch)
    per_row = (time.perf_counter() - started) / (rounds * len(batch))
    return {
        "holdout_rows": int(len(y_holdout)),
        "accuracy": round(float(accuracy_score(y_holdout, predicted)), 6),
        "f1_macro": round(float(f1_score(y_holdout, predicted, average="macro")), 6),
        "latency_ms": {
            "single_p50": round(float(np.percentile(single, 50)) * 1000, 4),
            "single_p99": round(float(np.percentile(single, 99)) * 1000, 4),
            "batch64_per_row": round(per_row * 1000, 4),
        },
    }
