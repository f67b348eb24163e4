"""One version's detectors over one window of sampled requests: every statistic the monitor exports.

Per-row facts (prediction, probabilities, attribution) are computed once, as rows arrive; a window's
statistics combine the facts of its rows, so calibration can replay thousands of windows from the
held-out rows' facts without re-running the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rolloutlab.drift.attribution import attributions
from rolloutlab.drift.domain_classifier import domain_auc
from rolloutlab.drift.feature_tests import feature_drift
from rolloutlab.drift.importance import impact_score, l1_distance, ndcg_at_k, profile
from rolloutlab.drift.new_values import new_value_share
from rolloutlab.drift.performance import ConfidenceEstimator
from rolloutlab.drift.predictions import confidence, entropy, prediction_drift
from rolloutlab.drift.reference import Reference, has_probabilities, holdout


# statistic → +1 if large values alarm, -1 if small ones do (calibration.py reads this).
DIRECTIONS: dict[str, int] = {
    "feature_drift": +1,  # -log10 of the smallest BH-adjusted per-feature p-value
    "new_values": +1,  # share of rows with a value never seen in a constant-in-reference pixel
    "prediction_drift": +1,  # -log10 p of the predicted-class chi²
    "confidence": -1,
    "entropy": +1,
    "domain_auc": +1,
    "attribution_ndcg": -1,
    "attribution_l1": +1,
    "impact": +1,
    "estimated_accuracy": -1,
}


@dataclass(frozen=True)
class Facts:
    """Per-row facts of a batch: features, predictions, probabilities (or None), attributions."""

    x: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray | None
    attributions: np.ndarray

    def take(self, index: np.ndarray) -> Facts:
        return Facts(self.x[index], self.predictions[index],
                     None if self.probabilities is None else self.probabilities[index], self.attributions[index])

    @staticmethod
    def concat(parts: list[Facts]) -> Facts:
        probabilities = None if parts[0].probabilities is None else np.vstack([p.probabilities for p in parts])
        return Facts(np.vstack([p.x for p in parts]), np.concatenate([p.predictions for p in parts]),
                     probabilities, np.vstack([p.attributions for p in parts]))


class VersionDetectors:
    """The reference side of every detector for one model, and the window statistics."""

    def __init__(self, model: Any, reference: Reference, seed: int = 0) -> None:
        self.model = model
        self.reference = reference
        self.seed = seed
        self.reference_predictions = np.asarray(model.predict(reference.x))
        # The model's own view (attributions, calibrated confidence) is referenced on rows it never
        # trained on: on its training rows the SVM's support vectors and the kNN's zero-distance
        # neighbours make attributions and confidence unlike any served request's.
        x_hold, y_hold = holdout()
        self.holdout = self.facts_without_reference(x_hold)
        self.reference_profile = profile(self.holdout.attributions)
        self.estimator: ConfidenceEstimator | None = None
        if self.holdout.probabilities is not None:
            self.estimator = ConfidenceEstimator.fit(self.holdout.probabilities, self.holdout.predictions == y_hold)

    def facts(self, x: np.ndarray) -> Facts:
        """Per-row facts of served (or simulated) requests."""
        return self.facts_without_reference(x)

    def facts_without_reference(self, x: np.ndarray) -> Facts:
        x = np.asarray(x, dtype=float)
        probabilities = np.asarray(self.model.predict_proba(x)) if has_probabilities(self.model) else None
        return Facts(x, np.asarray(self.model.predict(x)), probabilities,
                     attributions(self.model, x, self.reference.mean))

    def statistics(self, window: Facts, with_domain: bool = True) -> dict[str, float]:
        """Every statistic of DIRECTIONS for this window (NaN where the model has no probabilities)."""
        features = feature_drift(self.reference, window.x)
        window_profile = profile(window.attributions)
        stats = {
            "feature_drift": features.score,
            "new_values": new_value_share(self.reference, window.x),
            "prediction_drift": prediction_drift(self.reference_predictions, window.predictions),
            "confidence": float("nan"), "entropy": float("nan"), "estimated_accuracy": float("nan"),
            "domain_auc": domain_auc(self.reference.x, window.x, self.seed) if with_domain else float("nan"),
            "attribution_ndcg": ndcg_at_k(self.reference_profile, window_profile),
            "attribution_l1": l1_distance(self.reference_profile, window_profile),
            "impact": impact_score(self.reference_profile, features.effect),
        }
        if window.probabilities is not None and self.estimator is not None:
            stats["confidence"] = confidence(window.probabilities)
            stats["entropy"] = entropy(window.probabilities)
            stats["estimated_accuracy"] = self.estimator.estimate(window.probabilities)
        return stats
