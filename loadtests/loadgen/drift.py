"""Scheduled, seeded drift applied to the traffic plan's rows: the same drifted stream for every target.

Pure and deterministic. A request at `t` seconds after the load started is drifted with probability
`share × ramp(t)` (0 before `onset`, rising linearly to `share` over `ramp` seconds); the draw and any
randomness of the transform (noise) come from a generator keyed by (seed, slot, seq), so a run, a rerun
and the simulator see the same drifted requests whatever answered them.

Kinds and their effect on the 540 held-out rows (accuracy v1 / v2 / v3, measured with models/training.py):
- ignored:    pixels constant in training (0, 24, 32, 39) set to 16 — .939 / .981 / .985
- strokes:    the 16 pixels the linear model relies on most (STROKE_PIXELS) halved — .770 / .820 / .885
- brightness: × strength (0.6); shift: `strength` px right (1); rotate: `strength`° (20);
  noise: Gaussian sd `strength` (2); inverted: 16 − x; units: 0–255 instead of 0–16;
- prior:      the row is redrawn with classes in `classes` (8, 9) `strength` (4) times as frequent;
- concept:    inputs unchanged, the label sent to /feedback swapped within `classes` (3 ↔ 8).
Pixels stay integers in 0..16 (0..255 for units), like the real inputs.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SIDE = 8
MAX_PIXEL = 16
# Constant (always 0) in the training split: any other value is new (models/training.py's split).
IGNORED_PIXELS = (0, 24, 32, 39)
# The top 16 of mean |coef[predicted class] · (x − mean)| of v1 (logistic regression) on the training
# split; tests/unit/test_drift_plan.py recomputes it.
STROKE_PIXELS = (13, 18, 19, 20, 21, 26, 27, 28, 29, 34, 35, 36, 42, 43, 44, 61)

# kind → (default strength, default classes); None where the kind takes no such parameter.
KINDS: dict[str, tuple[float | None, tuple[int, ...] | None]] = {
    "ignored": (None, None),
    "strokes": (None, None),
    "brightness": (0.6, None),
    "shift": (1, None),
    "rotate": (20.0, None),
    "noise": (2.0, None),
    "inverted": (None, None),
    "units": (None, None),
    "prior": (4.0, (8, 9)),
    "concept": (None, (3, 8)),
}


@dataclass(frozen=True)
class Drifted:
    """One request after drift: the row it sends, its features, the label its feedback carries."""

    row: int
    features: list[float]
    label: int
    drifted: bool


@dataclass(frozen=True)
class DriftPlan:
    kind: str
    onset: float
    ramp: float = 0.0
    share: float = 1.0
    seed: int = 0
    strength: float | None = None
    classes: tuple[int, ...] | None = None
    _prior_rows: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown drift kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.onset < 0 or self.ramp < 0 or not 0 < self.share <= 1:
            raise ValueError(f"drift needs onset >= 0, ramp >= 0 and 0 < share <= 1 (got {self.onset}, "
                             f"{self.ramp}, {self.share})")
        default_strength, default_classes = KINDS[self.kind]
        if self.strength is None:
            object.__setattr__(self, "strength", default_strength)
        if self.classes is None:
            object.__setattr__(self, "classes", default_classes)

    @classmethod
    def from_json(cls, text: str) -> DriftPlan:
        """The plan from ROLLOUTLAB_DRIFT (to_json's output)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("ROLLOUTLAB_DRIFT must be a JSON object")
        if data.get("classes") is not None:
            data["classes"] = tuple(data["classes"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "onset": self.onset, "ramp": self.ramp, "share": self.share,
                           "seed": self.seed, "strength": self.strength,
                           "classes": list(self.classes) if self.classes else None})

    def fraction(self, t: float) -> float:
        """Share of requests drifted at t seconds after the load started (the onset/ramp schedule)."""
        if t < self.onset:
            return 0.0
        if self.ramp == 0 or t >= self.onset + self.ramp:
            return self.share
        return self.share * (t - self.onset) / self.ramp

    def apply(self, rows: Sequence[Mapping[str, Any]], row: int, slot: int, seq: int, t: float) -> Drifted:
        """The request the plan's (slot, seq) sends at time t: drifted or not, decided by the seeded draw."""
        rng = random.Random(f"rolloutlab-drift:{self.seed}:{slot}:{seq}")
        features, label = list(rows[row]["features"]), int(rows[row]["label"])
        if rng.random() >= self.fraction(t):
            return Drifted(row, features, label, False)
        if self.kind == "prior":
            row = self._prior_row(rows, rng)
            return Drifted(row, list(rows[row]["features"]), int(rows[row]["label"]), True)
        if self.kind == "concept":
            return Drifted(row, features, swap_label(label, self.classes or ()), True)
        return Drifted(row, transform(self.kind, features, self.strength, rng), label, True)

    def _prior_row(self, rows: Sequence[Mapping[str, Any]], rng: random.Random) -> int:
        """A row drawn with the favoured classes `strength` times as likely as the others."""
        if not self._prior_rows:
            for index, item in enumerate(rows):
                self._prior_rows.setdefault(int(item["label"]), []).append(index)
        classes = sorted(self._prior_rows)
        favoured = set(self.classes or ())
        weights = [len(self._prior_rows[c]) * (float(self.strength or 1) if c in favoured else 1.0) for c in classes]
        chosen = rng.choices(classes, weights)[0]
        return rng.choice(self._prior_rows[chosen])


def swap_label(label: int, classes: Sequence[int]) -> int:
    """3 → 8 and 8 → 3 for classes (3, 8); a longer tuple rotates (a → b → c → a)."""
    if label not in classes:
        return label
    return int(classes[(list(classes).index(label) + 1) % len(classes)])


def _clip(values: Sequence[float], top: int = MAX_PIXEL) -> list[float]:
    return [float(min(top, max(0, round(v)))) for v in values]


def _rotate(features: Sequence[float], degrees: float) -> list[float]:
    """Rotate the 8×8 image about its centre (bilinear, zeros outside), counter-clockwise."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    centre = (SIDE - 1) / 2
    out = []
    for r in range(SIDE):
        for c in range(SIDE):
            # Where this output pixel comes from in the input image.
            y, x = r - centre, c - centre
            sy, sx = cos * y - sin * x + centre, sin * y + cos * x + centre
            r0, c0 = math.floor(sy), math.floor(sx)
            fy, fx = sy - r0, sx - c0
            value = 0.0
            for dr, dc, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                                   (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
                rr, cc = r0 + dr, c0 + dc
                if 0 <= rr < SIDE and 0 <= cc < SIDE:
                    value += weight * features[rr * SIDE + cc]
            out.append(value)
    return out


def transform(kind: str, features: Sequence[float], strength: float | None, rng: random.Random) -> list[float]:
    """The drifted features of one row (kinds that change inputs)."""
    x = list(features)
    if kind == "ignored":
        return [float(MAX_PIXEL) if i in IGNORED_PIXELS else v for i, v in enumerate(x)]
    if kind == "strokes":
        return [float(v // 2) if i in STROKE_PIXELS else v for i, v in enumerate(x)]
    if kind == "brightness":
        return _clip(v * float(strength or 1) for v in x)  # type: ignore[arg-type]
    if kind == "shift":
        step = int(strength or 1)
        return [x[r * SIDE + c - step] if 0 <= c - step < SIDE else 0.0 for r in range(SIDE) for c in range(SIDE)]
    if kind == "rotate":
        return _clip(_rotate(x, float(strength or 0)))
    if kind == "noise":
        return _clip(v + rng.gauss(0.0, float(strength or 0)) for v in x)  # type: ignore[arg-type]
    if kind == "inverted":
        return [float(MAX_PIXEL - v) for v in x]
    if kind == "units":
        return _clip((v * 255 / MAX_PIXEL for v in x), top=255)  # type: ignore[arg-type]
    raise ValueError(f"drift kind {kind!r} does not transform inputs")
