"""Load shapes, one per file, chosen by name: steady, ramp, step, spike, soak, wave.

Each is a plain schedule class (tests drive tick() with a fake clock); `locust_shape()` mixes the
chosen one into locust.LoadTestShape with its parameters bound, for the locustfile to expose.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from shapes.base import Schedule, Tick
from shapes.ramp import RampShape
from shapes.soak import SoakShape
from shapes.spike import SpikeShape
from shapes.steady import SteadyShape
from shapes.step import StepShape
from shapes.wave import WaveShape

SHAPES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (SteadyShape, RampShape, StepShape, SpikeShape, SoakShape, WaveShape)
}
log = logging.getLogger("rolloutlab.shapes")


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


def locust_shape(plan: Callable[[], tuple[str, dict[str, Any]]]) -> type:
    """A locust.LoadTestShape subclass running the schedule plan() names, read afresh at each test's start.

    plan() returns (shape name, parameters). Locust calls reset_time() when a test starts (the
    headless start, or each POST /swarm of the web API), so a master that serves many runs gives
    each its own shape and users. A plan that does not validate is logged and ends the test at
    once: a test must never run on a plan it was not given.
    """
    from locust import LoadTestShape  # imported here: only a Locust process may pay for gevent's patching

    def build() -> Schedule | None:
        try:
            return make_schedule(*plan())
        except (ValueError, TypeError) as exc:
            log.error("load shape: %s; the test stops", exc)
            return None

    make_schedule(*plan())  # fail at import of the locustfile, not at the first tick

    class LabShape(LoadTestShape):
        def __init__(self) -> None:
            super().__init__()
            self.schedule: Schedule | None = None

        def reset_time(self) -> None:
            super().reset_time()
            self.schedule = build()

        def request_stop(self) -> None:
            if self.schedule is not None:
                self.schedule.request_stop()

        def tick(self) -> Tick | None:
            if self.schedule is None:
                self.schedule = build()
                if self.schedule is None:
                    return None
            return self.schedule.tick()

    return LabShape
