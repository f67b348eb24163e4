"""RampShape: users grow linearly from start_users to users over ramp_time, then hold."""

from __future__ import annotations

import time
from collections.abc import Callable

from shapes.base import Schedule, Tick, interpolate


class RampShape(Schedule):
    name = "ramp"

    def __init__(self, users: int, start_users: int = 1, ramp_time: float = 60.0, duration: float | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(users, duration, clock)
        if not 0 <= start_users <= users:
            raise ValueError(f"ramp: start_users must be between 0 and users ({users}), got {start_users}")
        if ramp_time <= 0:
            raise ValueError(f"ramp: ramp_time must be positive, got {ramp_time}")
        self.start_users = int(start_users)
        self.ramp_time = float(ramp_time)

    def at(self, t: float) -> Tick:
        slope = (self.users - self.start_users) / self.ramp_time
        # Locust blocks in start() until it reaches the target, so spawn at least as fast as the line rises.
        return interpolate(self.start_users, self.users, t / self.ramp_time), max(1.0, 2 * slope)

    def natural_duration(self) -> float:
        return self.ramp_time
