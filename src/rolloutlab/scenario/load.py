"""The scenario's `load:` section: users, rate, seed, feedback, and a load shape with its parameters.

`shape` picks one of loadtests/shapes (steady, ramp, step, spike, soak, wave); each shape is its own
model, so a parameter of another shape is an "unknown field" at its own file:line.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

from rolloutlab.durations import parse_duration
from rolloutlab.scenario.drift import DriftSection

Seconds = Annotated[float, BeforeValidator(parse_duration)]
SHAPE_TAG = "shape="  # prefix of the union tags pydantic puts into error locations (not YAML keys)
DEFAULT_SHAPE = "steady"


def _feedback_delay(value: object) -> float | None:
    """'off' / false / null disable feedback; otherwise a duration (0 allowed: label right away)."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "no")):
        return None
    if value == 0 or value == "0":
        return 0.0
    return parse_duration(value)


FeedbackDelay = Annotated[float | None, BeforeValidator(_feedback_delay)]


class LoadBase(BaseModel):
    """Fields every shape shares. users is the steady (or peak) number of Locust users."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shape_fields: ClassVar[tuple[str, ...]] = ()

    users: int = Field(10, ge=1, le=1000)
    rate_per_user: float = Field(5.0, gt=0, le=100)
    seed: int = 42
    population: int = Field(1000, ge=1, le=10_000_000)
    feedback_delay: FeedbackDelay = 2.0
    # Only `rolloutlab load` stops at the duration; a rollout keeps its load until the rollout ends.
    duration: Seconds | None = None
    drift: DriftSection | None = None

    def drift_plan_json(self) -> str | None:
        """The drift plan for the load generator (ROLLOUTLAB_DRIFT), None without a drift section."""
        return self.drift.plan_json(self.seed) if self.drift is not None else None

    @property
    def shape_name(self) -> str:
        return str(getattr(self, "shape"))

    def shape_params(self) -> dict[str, float | int]:
        """The shape's own parameters (as the locustfile's ROLLOUTLAB_SHAPE_PARAMS takes them)."""
        return {name: getattr(self, name) for name in self.shape_fields if getattr(self, name) is not None}

    def natural_seconds(self) -> float:
        """One full pass of the shape (mirrors natural_duration() of loadtests/shapes)."""
        return 60.0

    def planned_seconds(self) -> float:
        """How long `rolloutlab load` runs: the duration if set, else one pass of the shape."""
        return self.duration if self.duration is not None else self.natural_seconds()

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v:g}" for k, v in self.shape_params().items())
        base = f"{self.shape_name} {self.users} users × {self.rate_per_user:g} req/s"
        return f"{base} ({extra})" if extra else base


class SteadyLoad(LoadBase):
    shape: Literal["steady"] = "steady"


class RampLoad(LoadBase):
    shape: Literal["ramp"]
    shape_fields = ("start_users", "ramp_time")
    start_users: int = Field(1, ge=0)
    ramp_time: Seconds = 60.0

    @model_validator(mode="after")
    def _start_below_peak(self) -> RampLoad:
        if self.start_users > self.users:
            raise ValueError(f"start_users ({self.start_users}) must not exceed users ({self.users})")
        return self

    def natural_seconds(self) -> float:
        return self.ramp_time


class StepLoad(LoadBase):
    shape: Literal["step"]
    shape_fields = ("step_users", "step_time", "start_users")
    step_users: int = Field(5, ge=1)
    step_time: Seconds = 30.0
    start_users: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _start_below_peak(self) -> StepLoad:
        if (self.start_users or self.step_users) > self.users:
            first = self.start_users or self.step_users
            raise ValueError(f"the first step ({first} users) exceeds users ({self.users})")
        return self

    def natural_seconds(self) -> float:
        start = self.start_users or self.step_users
        return (1 + math.ceil((self.users - start) / self.step_users)) * self.step_time


class SpikeLoad(LoadBase):
    shape: Literal["spike"]
    shape_fields = ("spike_users", "spike_at", "spike_time")
    spike_users: int = Field(50, ge=2, le=1000)
    spike_at: Seconds = 30.0
    spike_time: Seconds = 10.0

    @model_validator(mode="after")
    def _spike_above_base(self) -> SpikeLoad:
        if self.spike_users <= self.users:
            raise ValueError(f"spike_users ({self.spike_users}) must exceed the base users ({self.users})")
        return self

    def natural_seconds(self) -> float:
        return 2 * self.spike_at + self.spike_time


class SoakLoad(LoadBase):
    shape: Literal["soak"]
    shape_fields = ("warmup",)
    warmup: Seconds = 60.0
    duration: Seconds | None = 3600.0

    @model_validator(mode="after")
    def _warmup_within_duration(self) -> SoakLoad:
        if self.duration is not None and self.warmup >= self.duration:
            raise ValueError(f"warmup ({self.warmup:g}s) must be shorter than the duration ({self.duration:g}s)")
        return self

    def natural_seconds(self) -> float:
        return self.duration or 3600.0


class WaveLoad(LoadBase):
    shape: Literal["wave"]
    shape_fields = ("min_users", "period")
    min_users: int = Field(1, ge=0)
    period: Seconds = 120.0

    @model_validator(mode="after")
    def _trough_below_peak(self) -> WaveLoad:
        if self.min_users >= self.users:
            raise ValueError(f"min_users ({self.min_users}) must be below users ({self.users})")
        return self

    def natural_seconds(self) -> float:
        return 2 * self.period


SHAPE_MODELS: dict[str, type[LoadBase]] = {
    "steady": SteadyLoad, "ramp": RampLoad, "step": StepLoad, "spike": SpikeLoad, "soak": SoakLoad, "wave": WaveLoad,
}


def _shape_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return f"{SHAPE_TAG}{value.get('shape', DEFAULT_SHAPE)}"
    if isinstance(value, LoadBase):
        return f"{SHAPE_TAG}{value.shape_name}"
    return None


_TAGGED = tuple(Annotated[model, Tag(f"{SHAPE_TAG}{name}")] for name, model in SHAPE_MODELS.items())
Load = Annotated[
    Union[_TAGGED],  # type: ignore[valid-type]
    Discriminator(
        _shape_of,
        custom_error_type="invalid_shape",
        custom_error_message=f"expected a mapping whose shape is one of {', '.join(SHAPE_MODELS)}",
    ),
]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Load)


def validate_load(data: Any) -> LoadBase:
    """A load section from plain data (raises pydantic.ValidationError)."""
    return _ADAPTER.validate_python(data)


def clean_location(loc: tuple[str | int, ...], error_type: str, data: Any) -> tuple[tuple[str | int, ...], str | None]:
    """Error location without union tags, and a better message for a bad `shape` (None: keep pydantic's).

    pydantic reports `load.shape=ramp.ramp_time`; the YAML key path is `load.ramp_time`.
    """
    cleaned = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(SHAPE_TAG)))
    if error_type != "invalid_shape":
        return cleaned, None
    node = data
    for part in cleaned:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        return cleaned + ("shape",), f"unknown shape {node.get('shape')!r}; known: {', '.join(SHAPE_MODELS)}"
    return cleaned, f"expected a mapping (users, rate_per_user, shape, ...), got {type(node).__name__}"
