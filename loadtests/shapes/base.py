"""The LoadTestShape contract without Locust: tick() -> (users, spawn_rate) or None to stop.

The schedules are plain classes so they can be unit-tested without importing Locust (whose import
gevent-patches the interpreter); `shapes.locust_shape` mixes one into Locust's LoadTestShape.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

Tick = tuple[int, float]


class Schedule(ABC):
    """A load schedule over run time: `at(t)` gives (users, spawn_rate); `duration` ends it."""

    name: ClassVar[str] = ""

    def __init__(self, users: int, duration: float | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if users < 1:
            raise ValueError(f"{self.name}: users must be at least 1, got {users}")
        if duration is not None and duration <= 0:
            raise ValueError(f"{self.name}: duration must be positive, got {duration}")
        self.users = int(users)
        self.duration = duration
        self._clock = clock
        self.start_time = clock()
        self.stop_requested = False

    # Same names and meaning as locust.LoadTestShape, so the mixed-in class keeps Locust's contract.
    def reset_time(self) -> None:
        self.start_time = self._clock()

    def get_run_time(self) -> float:
        return self._clock() - self.start_time

    def request_stop(self) -> None:
        """End the test at the next tick, through Locust's own shape-finished path (stats get written)."""
        self.stop_requested = True

    def tick(self) -> Tick | None:
        """(users, spawn_rate) for now, or None once the duration is over (Locust then stops)."""
        elapsed = self.get_run_time()
        if self.stop_requested or (self.duration is not None and elapsed >= self.duration):
            return None
        users, spawn_rate = self.at(max(0.0, elapsed))
        return max(0, int(users)), max(1.0, float(spawn_rate))

    @abstractmethod
    def at(self, t: float) -> Tick:
        """Target users and spawn rate t seconds into the run."""

    def natural_duration(self) -> float | None:
        """How long one full pass of the schedule takes (None: it holds forever)."""
        return None


def interpolate(start: float, end: float, fraction: float) -> int:
    """Users on a straight line from start to end, rounded to the nearest whole user."""
    fraction = min(1.0, max(0.0, fraction))
    return int(math.floor(start + (end - start) * fraction + 0.5))
