"""RouteAndStableRouter: a run's routing on a cluster — the HTTPRoute carries every state, the stable Service follows.

Users reach the model through the Gateway, so the HTTPRoute (GatewayApiRouter) carries every state a
strategy emits: canary splits, the blue-green preview header rule, the blue-green switch, mirroring.
For blue-green, the `model-stable` Service (ServiceSelectorRouter) is switched in step, so in-cluster
clients that call the stable Service directly see the same cut-over; a state that splits traffic
leaves it where it is (a selector is all-or-nothing).

Every state is completed with the stack's other deployed versions at weight 0 before it is applied:
the Pulumi program renders the route the same way (every deployed version keeps its `x-model-version`
rule), so the state in force after a run is exactly what the program renders from the run's record,
and `pulumi preview --refresh` finds nothing to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from rolloutlab.errors import RoutingError
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routing import RoutingState


def with_deployed(state: RoutingState, deployed: Sequence[str]) -> RoutingState:
    """`state` with every deployed version it does not name added at weight 0 (rules, mirror, generation kept)."""
    missing = {v: 0 for v in deployed if v not in state.weights}
    if not missing:
        return state
    return RoutingState({**state.weights, **missing}, generation=state.generation, reason=state.reason,
                        rules=state.rules, sticky=state.sticky, mirror=state.mirror)


class RouteAndStableRouter:
    """Applies each state to `route`; with `stable`, also points the stable Service at a state's only version."""

    def __init__(self, route: TrafficRouter, deployed: Sequence[str], stable: TrafficRouter | None = None) -> None:
        self.route = route
        self.stable = stable
        self.deployed = tuple(deployed)

    def current(self) -> RoutingState:
        """What the HTTPRoute serves: users' traffic goes through it."""
        return self.route.current()

    def stable_current(self) -> RoutingState | None:
        return self.stable.current() if self.stable is not None else None

    def apply(self, state: RoutingState) -> RoutingState:
        state = with_deployed(state, self.deployed)
        before = self.route.current() if self.stable is not None else None
        applied = self.route.apply(state)
        serving = list(state.active())
        if self.stable is None or len(serving) != 1:
            return applied
        if list(self.stable.current().active()) == serving:
            return applied
        target = RoutingState({v: 100 if v == serving[0] else 0 for v in self.deployed}, reason=state.reason)
        try:
            self.stable.apply(target)
        except RoutingError as exc:
            # Keep the two objects telling the same story: the route goes back to what it served.
            assert before is not None
            try:
                self.route.apply(RoutingState(before.weights, reason=f"undo: {exc}", rules=before.rules,
                                              sticky=before.sticky, mirror=before.mirror))
            except RoutingError as undo:
                raise RoutingError(f"{exc}; restoring the HTTPRoute to {before.describe()} failed too: {undo}") from exc
            raise RoutingError(f"{exc}; the HTTPRoute was put back on {before.describe()}") from exc
        return applied
