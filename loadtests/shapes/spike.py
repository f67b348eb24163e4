"""SpikeShape: a base of users, a sudden spike to spike_users for spike_time, then back to the base."""

from __future__ import annotations

import time
from collections.abc import Callable

from shapes.base import Schedule, Tick


class SpikeShape(Schedule):
    name = "spike"

    def __init__(self, users: int, spike_users: int = 50, spike_at: float = 30.0, spike_time: float = 10.0,
                 duration: float | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(users, duration, clock)
        if spike_users <= users:
            raise ValueError(f"spike: spike_users ({spike_users}) must exceed the base users ({users})")
        if spike_at < 0 or spike_time <= 0:
            raise ValueError(f"spike: spike_at must be >= 0 and spike_time > 0, got {spike_at}, {spike_time}")
        self.spike_users = int(spike_users)
        self.spike_at = float(spike_at)
        self.spike_time = float(spike_time)

    def in_spike(self, t: float) -> bool:
        return self.spike_at <= t < self.spike_at + self.spike_time

    def at(self, t: float) -> Tick:
        # A spike is sudden by definition: every extra user starts (and stops) within a second.
        return (self.spike_users if self.in_spike(t) else self.users), float(self.spike_users)

    def natural_duration(self) -> float:
        return 2 * self.spike_at + self.spike_time if self.spike_at > 0 else self.spike_time + 30.0
