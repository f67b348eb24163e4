"""The load's `drift:` section: which kind of drift, from when (onset), how fast (ramp), on what share.

Validated here (errors at their file:line like every scenario field) and handed to the load generator as
JSON (loadtests/loadgen/drift.py applies it), so every target and the simulator see the same traffic.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from rolloutlab.durations import parse_duration
from rolloutlab.paths import project_root



def _seconds_or_zero(value: object) -> float:
    """A duration, where 0 is allowed too (drift from the first request, no ramp)."""
    return 0.0 if value in (0, "0", "0s") else parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds_or_zero)]
DriftKind = Literal["ignored", "strokes", "brightness", "shift", "rotate", "noise", "inverted", "units",
                    "prior", "concept"]
# The kinds that take a strength / classes (loadgen/drift.py's KINDS holds the defaults).
STRENGTH_KINDS = ("brightness", "shift", "rotate", "noise", "prior")
CLASSES_KINDS = ("prior", "concept")


class DriftSection(BaseModel):
    """kind, onset (time after the load starts), ramp (linear rise to share), share of requests, seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DriftKind
    onset: Seconds
    ramp: Seconds = 0.0
    share: float = Field(1.0, gt=0, le=1)
    seed: int | None = None  # default: the load's seed
    strength: float | None = Field(None, gt=0)
    classes: tuple[Annotated[int, Field(ge=0, le=9)], ...] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _parameters_fit_the_kind(self) -> DriftSection:
        if self.strength is not None and self.kind not in STRENGTH_KINDS:
            raise ValueError(f"drift kind {self.kind!r} takes no strength (only {', '.join(STRENGTH_KINDS)} do)")
        if self.classes is not None and self.kind not in CLASSES_KINDS:
            raise ValueError(f"drift kind {self.kind!r} takes no classes (only {', '.join(CLASSES_KINDS)} do)")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError(f"drift classes repeat: {list(self.classes)}")
        if self.kind == "shift" and self.strength is not None and self.strength != int(self.strength):
            raise ValueError(f"a shift moves whole pixels; strength {self.strength:g} is not an integer")
        return self

    def plan_json(self, load_seed: int) -> str:
        """The plan as the locustfile's ROLLOUTLAB_DRIFT takes it."""
        return json.dumps({"kind": self.kind, "onset": self.onset, "ramp": self.ramp, "share": self.share,
                           "seed": load_seed if self.seed is None else self.seed, "strength": self.strength,
                           "classes": list(self.classes) if self.classes else None})

    def plan(self, load_seed: int):  # type: ignore[no-untyped-def]
        """The load generator's DriftPlan itself (for the simulator, the monitor's calibration, tests)."""
        return drift_plan_class().from_json(self.plan_json(load_seed))


def drift_plan_class() -> type:
    """loadtests/loadgen/drift.py's DriftPlan (the load generator's package, not part of rolloutlab)."""
    loadtests = str(project_root() / "loadtests")
    if loadtests not in sys.path:
        sys.path.insert(0, loadtests)
    from loadgen.drift import DriftPlan

    return DriftPlan
