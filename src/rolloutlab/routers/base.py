"""The TrafficRouter contract."""

from __future__ import annotations

from typing import Protocol

from rolloutlab.routing import RoutingState


class TrafficRouter(Protocol):
    # apply validates the state, makes it live on the data plane and returns it with its new generation;
    # on any error it raises RoutingError and the previous state stays in force.
    def apply(self, state: RoutingState) -> RoutingState: ...

    # current returns the state the data plane is serving now.
    def current(self) -> RoutingState: ...
