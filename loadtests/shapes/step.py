"""StepShape: start_users, then step_users more every step_time, up to users; then hold."""

from __future__ import annotations

import time
from collections.abc import Callable

from shapes.base import Schedule, Tick


class StepShape(Schedule):
    name = "step"

    def __init__(self, users: int, step_users: int = 5, step_time: float = 30.0, start_users: int | None = None,
                 duration: float | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(users, duration, clock)
        if step_users < 1:
            raise ValueError(f"step: step_users must be at least 1, got {step_users}")
        if step_time <= 0:
            raise ValueError(f"step: step_time must be positive, got {step_time}")
        start = step_users if start_users is None else start_users
        if not 1 <= start <= users:
            raise ValueError(f"step: start_users must be between 1 and users ({users}), got {start}")
        self.step_users = int(step_users)
        self.step_time = float(step_time)
        self.start_users = int(start)

    def step_index(self, t: float) -> int:
        """Which step t falls in (0 for the first)."""
        return int(t // self.step_time)

    def at(self, t: float) -> Tick:
        users = min(self.users, self.start_users + self.step_users * self.step_index(t))
        # Each step lands within about a second, so the step's window measures the new level.
        return users, float(max(self.step_users, self.start_users))

    def steps(self) -> int:
        """Number of distinct levels: start_users, start_users + step_users, ..., users."""
        return 1 + -(-(self.users - self.start_users) // self.step_users)

    def natural_duration(self) -> float:
        return self.steps() * self.step_time
