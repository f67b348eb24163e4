"""What a GatewayClass says it supports (`status.supportedFeatures`), against what a routing state needs.

A Gateway API implementation lists the features it passes conformance for on its GatewayClass.
A route with a filter the implementation does not support is accepted by the API server and then
answered with a 500 by the data plane (or marked not Accepted), so a run must refuse such a state
before it starts: shadow and `pre_switch_mirror` need RequestMirror, and the lab's mirror carries a
`percent` below 100 (a separate extended feature). Sticky buckets and header rules use only core
Exact header matches, which every conformant implementation supports (feature `HTTPRoute`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rolloutlab.errors import RoutingError
from rolloutlab.routers.httproute import GATEWAY_GROUP
from rolloutlab.routers.kube_api import call
from rolloutlab.routing import RoutingState

HTTPROUTE = "HTTPRoute"
MIRROR = "HTTPRouteRequestMirror"
PERCENTAGE_MIRROR = "HTTPRouteRequestPercentageMirror"
WHY = {
    HTTPROUTE: "every strategy routes with an HTTPRoute",
    MIRROR: "the state mirrors traffic (shadow, pre_switch_mirror)",
    PERCENTAGE_MIRROR: "the state mirrors a percentage of the traffic (requestMirror.percent)",
}


@dataclass(frozen=True)
class GatewayClassFeatures:
    """The features a GatewayClass reports; reported is False when its status lists none at all."""

    gateway_class: str
    supported: frozenset[str]
    reported: bool

    def supports(self, feature: str) -> bool | None:
        """True / False as the class says; None when it reports no features (nobody can tell)."""
        return feature in self.supported if self.reported else None

    def check(self, needed: Iterable[str], what: str = "the run") -> None:
        """Raise RoutingError naming every needed feature the class does not (say it does) support."""
        missing = sorted(f for f in set(needed) if not self.supports(f))
        if not missing:
            return
        reasons = "; ".join(f"{f} ({WHY.get(f, 'needed by the state')})" for f in missing)
        if not self.reported:
            raise RoutingError(
                f"{what} needs {reasons}, but GatewayClass {self.gateway_class} reports no status.supportedFeatures, "
                "so the lab cannot tell whether its data plane supports them (it would answer 500 if not)")
        raise RoutingError(f"{what} needs {reasons}, which GatewayClass {self.gateway_class} does not support "
                           f"(it lists: {', '.join(sorted(self.supported)) or 'nothing'})")


def features_of(gateway_class: dict[str, Any]) -> GatewayClassFeatures:
    """The reported features of a GatewayClass object (v1.1+ lists objects {name}; older ones strings)."""
    name = str((gateway_class.get("metadata") or {}).get("name", "?"))
    listed = (gateway_class.get("status") or {}).get("supportedFeatures")
    if not listed:
        return GatewayClassFeatures(name, frozenset(), reported=False)
    names = {str(item["name"]) if isinstance(item, dict) else str(item) for item in listed}
    return GatewayClassFeatures(name, frozenset(names), reported=True)


def read_features(custom_objects: Any, gateway_class: str) -> GatewayClassFeatures:
    """Read the GatewayClass through a kubernetes CustomObjectsApi and return what it reports."""
    obj = call(f"reading GatewayClass {gateway_class}", lambda: custom_objects.get_cluster_custom_object(
        GATEWAY_GROUP, "v1", "gatewayclasses", gateway_class))
    return features_of(obj)


def needed_features(state: RoutingState) -> set[str]:
    """The Gateway API features the HTTPRoute rendered from this state needs."""
    needed = {HTTPROUTE}
    if state.mirror is not None:
        needed.add(MIRROR)
        if state.mirror.percent < 100:
            needed.add(PERCENTAGE_MIRROR)
    return needed
