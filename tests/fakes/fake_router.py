"""An in-memory router for tests of the engine and strategies: validates like a real one, can be made to fail."""

from __future__ import annotations

from rolloutlab.errors import RoutingError
from rolloutlab.routing import RoutingState


class FakeRouter:
    """Keeps the applied states in `history`; `fail_next` makes the next apply raise, state unchanged."""

    def __init__(self, versions: set[str], initial: RoutingState) -> None:
        self.versions = frozenset(versions)
        self.history: list[RoutingState] = []
        self.fail_next: str | None = None
        initial.validate(self.versions)
        self._state = initial

    def apply(self, state: RoutingState) -> RoutingState:
        state.validate(self.versions)
        if self.fail_next is not None:
            message, self.fail_next = self.fail_next, None
            raise RoutingError(message)
        applied = state.with_generation(self._state.generation + 1)
        self._state = applied
        self.history.append(applied)
        return applied

    def current(self) -> RoutingState:
        return self._state
