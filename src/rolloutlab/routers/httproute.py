"""Render a RoutingState into a Gateway API v1 HTTPRoute manifest (pure: no I/O).

The Pulumi program creates the initial route with this function and GatewayApiRouter patches later
states with it, so both always describe traffic the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import MODEL_PORT, PART_OF, PART_OF_LABEL, K8sNames
from rolloutlab.routing import FORCE_HEADER, RoutingState

GATEWAY_GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GATEWAY_GROUP}/v1"
STATE_ANNOTATION = "rolloutlab.dev/routing-state"
GENERATION_ANNOTATION = "rolloutlab.dev/routing-generation"
# Limits of the HTTPRoute CRD (v1): checked here so the lab refuses a state with its own message
# before the API server would answer 422.
MAX_RULES = 16  # rules per route
MAX_BACKEND_REFS = 16  # backendRefs per rule
MAX_WEIGHT = 1_000_000  # backendRefs[].weight
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _backend(names: K8sNames, version: str, weight: int | None = None) -> dict[str, Any]:
    service = names.version_service(version)
    if len(service) > 63 or not _DNS_LABEL.match(service):
        raise RoutingError(f"version {version!r} gives Service name {service!r}, which is not a DNS-1035 label")
    ref: dict[str, Any] = {"group": "", "kind": "Service", "name": service, "port": MODEL_PORT}
    if weight is not None:
        ref["weight"] = weight
    return ref


def _header_rule(names: K8sNames, header: str, value: str, version: str) -> dict[str, Any]:
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"},
                     "headers": [{"type": "Exact", "name": header, "value": value}]}],
        "backendRefs": [_backend(names, version, 1)],
    }


def state_annotations(state: RoutingState) -> dict[str, str]:
    """The annotations that carry `state` on a routed object (HTTPRoute, stable Service): always the same text."""
    return {STATE_ANNOTATION: json.dumps(state.to_dict(), separators=(",", ":")),
            GENERATION_ANNOTATION: str(state.generation)}


def render_httproute(state: RoutingState, names: K8sNames, *, gateway_namespace: str | None = None) -> dict[str, Any]:
    """The HTTPRoute `names.httproute` that carries out `state` behind the Gateway `names.gateway`.

    Rules, in the order the Gateway API gives precedence to equally specific matches: one per version
    for `x-model-version`, then the state's header rules, then the weighted default (which alone carries
    the RequestMirror filter, as the NGINX router mirrors only traffic that follows the weights).
    Sticky assignment by user key has no standard HTTPRoute form, so a sticky state is refused.
    """
    if state.sticky:
        raise RoutingError(
            "sticky assignment by user key cannot be expressed in a Gateway API v1 HTTPRoute "
            "(sessionPersistence is experimental); use a non-sticky state on Kubernetes"
        )
    active = state.active()
    if len(active) > MAX_BACKEND_REFS:
        raise RoutingError(
            f"the state gives traffic to {len(active)} versions; an HTTPRoute rule forwards to at most "
            f"{MAX_BACKEND_REFS} backends (give the others weight 0)"
        )
    heavy = {v: w for v, w in active.items() if w > MAX_WEIGHT}
    if heavy:
        raise RoutingError(
            f"weights {', '.join(f'{v}={w}' for v, w in heavy.items())} exceed the HTTPRoute maximum of "
            f"{MAX_WEIGHT:,}; weights are relative, so scale them all down"
        )
    rules = [_header_rule(names, FORCE_HEADER, version, version) for version in sorted(state.weights)]
    rules += [_header_rule(names, rule.header, rule.value, rule.version) for rule in state.rules]
    default: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [_backend(names, version, weight) for version, weight in active.items()],
    }
    if state.mirror is not None:
        default["filters"] = [{
            "type": "RequestMirror",
            "requestMirror": {"backendRef": _backend(names, state.mirror.version), "percent": state.mirror.percent},
        }]
    rules.append(default)
    if len(rules) > MAX_RULES:
        raise RoutingError(
            f"the state needs {len(rules)} HTTPRoute rules (one per version, one per header rule, one default); "
            f"an HTTPRoute allows {MAX_RULES}"
        )
    parent: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": names.gateway}
    if gateway_namespace:
        parent["namespace"] = gateway_namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": names.httproute,
            "namespace": names.namespace,
            "labels": {PART_OF_LABEL: PART_OF},
            "annotations": state_annotations(state),
        },
        "spec": {"parentRefs": [parent], "rules": rules},
    }


def state_of(route: dict[str, Any]) -> RoutingState:
    """The RoutingState an HTTPRoute rendered by render_httproute carries (from its annotation)."""
    meta = route.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(STATE_ANNOTATION)
    where = f"HTTPRoute {meta.get('namespace')}/{meta.get('name')}"
    if raw is None:
        raise RoutingError(f"{where} has no {STATE_ANNOTATION} annotation; was it created by Rollout Lab?")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RoutingError(f"{where}: annotation {STATE_ANNOTATION} is not JSON ({exc})") from exc
    return RoutingState.from_dict(data, where=f"{where} annotation {STATE_ANNOTATION}")
