"""Accuracy estimated without labels from the model's calibrated confidence (NannyML's CBPE idea).

Fit once on labelled reference rows: isotonic regression of "was the prediction right" on the top-class
probability. A window's estimated accuracy is the mean calibrated confidence of its rows. Blind spot by
construction: it sees only what changes the model's confidence, so a concept shift (same inputs, other
labels) leaves it flat while the realised accuracy falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class ConfidenceEstimator:
    calibration: IsotonicRegression

    @classmethod
    def fit(cls, probabilities: np.ndarray, correct: np.ndarray) -> ConfidenceEstimator:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(probabilities.max(axis=1), correct.astype(float))
        return cls(iso)

    def estimate(self, probabilities: np.ndarray) -> float:
        """Expected accuracy of the rows these probabilities belong to."""
        return float(np.mean(self.calibration.predict(probabilities.max(axis=1))))
