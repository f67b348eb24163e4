"""An in-memory router for tests of the engine and strategies."""

from __future__ import annotations

from rolloutlab.routing import RoutingState


class FakeRouter:
    def __init__(self, versions: set[str], initial: RoutingState) -> None:
        self.versions = frozenset(versions)
        self.history: list[RoutingState] = []
        initial.validate(self.versions)
        self._state = initial

    def apply(self, state: RoutingState) -> RoutingState:
        state.validate(self.versions)
        applied = RoutingState(dict(state.weights), self._state.generation + 1, state.reason)
        self._state = applied
        self.history.append(applied)
        return applied

    def current(self) -> RoutingState:
        return self._state
