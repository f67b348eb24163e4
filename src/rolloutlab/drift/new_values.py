"""The data-quality rule for features constant in the reference: any other value there is new.

A chi² p-value for such a feature explodes at the first non-zero pixel; what matters is how many rows
carry a value the model has never seen, so the statistic is that share of the window's rows.
"""

from __future__ import annotations

import numpy as np

from rolloutlab.drift.reference import Reference


def new_value_share(reference: Reference, window: np.ndarray) -> float:
    """Share of the window's rows with a value never seen in some constant-in-reference feature."""
    if len(reference.constant) == 0 or len(window) == 0:
        return 0.0
    new = window[:, reference.constant] != reference.constant_value
    return float(new.any(axis=1).mean())


def new_value_features(reference: Reference, window: np.ndarray) -> list[int]:
    """The constant-in-reference features that took a new value in the window (the log explains)."""
    new = window[:, reference.constant] != reference.constant_value
    return [int(j) for j in reference.constant[new.any(axis=0)]]
