"""SoakShape: a gentle warm-up to users, then a long hold (leaks, slow drifts, log growth)."""

from __future__ import annotations

import time
from collections.abc import Callable

from shapes.base import Schedule, Tick, interpolate

DEFAULT_SOAK_SECONDS = 3600.0


class SoakShape(Schedule):
    name = "soak"

    def __init__(self, users: int, warmup: float = 60.0, duration: float | None = DEFAULT_SOAK_SECONDS,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(users, duration, clock)
        if warmup < 0:
            raise ValueError(f"soak: warmup must be >= 0, got {warmup}")
        if duration is not None and warmup >= duration:
            raise ValueError(f"soak: warmup ({warmup}s) must be shorter than the duration ({duration}s)")
        self.warmup = float(warmup)

    def at(self, t: float) -> Tick:
        if self.warmup == 0:
            return self.users, float(self.users)
        return max(1, interpolate(1, self.users, t / self.warmup)), max(1.0, 2 * self.users / self.warmup)

    def natural_duration(self) -> float:
        return self.duration or DEFAULT_SOAK_SECONDS
