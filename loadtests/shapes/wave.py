"""WaveShape: a diurnal-like cosine wave between min_users (night) and users (midday), period after period."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from shapes.base import Schedule, Tick


class WaveShape(Schedule):
    name = "wave"

    def __init__(self, users: int, min_users: int = 1, period: float = 120.0, duration: float | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(users, duration, clock)
        if not 0 <= min_users < users:
            raise ValueError(f"wave: min_users must be between 0 and users - 1 ({users - 1}), got {min_users}")
        if period <= 0:
            raise ValueError(f"wave: period must be positive, got {period}")
        self.min_users = int(min_users)
        self.period = float(period)

    def at(self, t: float) -> Tick:
        # Starts at the trough ("night"), peaks at half a period ("midday"), like a day of traffic.
        level = (1 - math.cos(2 * math.pi * t / self.period)) / 2
        users = int(math.floor(self.min_users + (self.users - self.min_users) * level + 0.5))
        steepest = (self.users - self.min_users) * math.pi / self.period  # users per second at mid-slope
        return users, max(1.0, 2 * steepest)

    def natural_duration(self) -> float:
        return 2 * self.period
