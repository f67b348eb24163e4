"""SteadyShape: a constant number of users, all started at once (the canary's default traffic)."""

from __future__ import annotations

from shapes.base import Schedule, Tick


class SteadyShape(Schedule):
    """`users` users from the first second to the end."""

    name = "steady"

    def at(self, t: float) -> Tick:
        # Spawning every user within the first second keeps the offered rate flat from the start.
        return self.users, float(self.users)
