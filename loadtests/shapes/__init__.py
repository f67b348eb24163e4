"""Load shapes, one per file, chosen by name: steady, ramp, step, spike, soak, wave.

Each is a plain schedule class (tests drive tick() with a fake clock); `locust_shape()` mixes the
chosen one into locust.LoadTestShape with its parameters bound, for the locustfile to expose.
"""

from __future__ import annotations

import inspect
from typing import Any

from shapes.base import Schedule
from shapes.ramp import RampShape
from shapes.soak import SoakShape
from shapes.spike import SpikeShape
from shapes.steady import SteadyShape
from shapes.step import StepShape
from shapes.wave import WaveShape

SHAPES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (SteadyShape, RampShape, StepShape, SpikeShape, SoakShape, WaveShape)
}


def parameters(name: str) -> list[str]:
    """The keyword parameters a shape takes (besides the clock)."""
    signature = inspect.signature(shape_class(name).__init__)
    return [p for p in signature.parameters if p not in ("self", "clock")]


def shape_class(name: str) -> type[Schedule]:
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown load shape {name!r}; known: {', '.join(SHAPES)}") from None


def make_schedule(name: str, params: dict[str, Any], **extra: Any) -> Schedule:
    """An instance of the named shape; unknown or invalid parameters raise ValueError naming them."""
    known = parameters(name)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"shape {name} takes {', '.join(known)}; not {', '.join(unknown)}")
    return shape_class(name)(**params, **extra)


def locust_shape(name: str, params: dict[str, Any]) -> type:
    """A locust.LoadTestShape subclass running the named schedule with these parameters."""
    from locust import LoadTestShape  # imported here: only a Locust process may pay for gevent's patching

    make_schedule(name, params)  # fail at import of the locustfile, not at the first tick
    schedule = shape_class(name)

    def __init__(self: Any) -> None:
        LoadTestShape.__init__(self)
        schedule.__init__(self, **params)

    return type(f"Lab{schedule.__name__}", (schedule, LoadTestShape), {"__init__": __init__})
