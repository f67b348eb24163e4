"""A router wrapper that records every state it applies, or refuses, in an append-only lab journal.

The engine journals its own changes in the run's journal; this lab-level journal also holds the
changes made by hand (`rolloutlab route set`), so the history of the lab's traffic is complete.
"""

from __future__ import annotations

from pathlib import Path

from rolloutlab.errors import RoutingError
from rolloutlab.journal import Journal
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routing import RoutingState

JOURNAL_NAME = "routing-journal.jsonl"


def record_state(path: Path, event: str, state: RoutingState, by: str, **fields: object) -> None:
    """Append one record (time, generation, state, who) and sync it to disk."""
    journal = Journal(path)
    try:
        journal.write(event, generation=state.generation, weights=dict(sorted(state.weights.items())),
                      state=state.to_dict(), reason=state.reason, by=by, **fields)
    finally:
        journal.close()


class JournaledRouter:
    """Delegates to `router`; journals `routing_applied` or `routing_rejected` for every apply."""

    def __init__(self, router: TrafficRouter, path: Path, by: str) -> None:
        self.router = router
        self.path = path
        self.by = by

    def apply(self, state: RoutingState) -> RoutingState:
        try:
            applied = self.router.apply(state)
        except RoutingError as exc:
            record_state(self.path, "routing_rejected", state, self.by, error=str(exc))
            raise
        record_state(self.path, "routing_applied", applied, self.by)
        return applied

    def current(self) -> RoutingState:
        return self.router.current()
