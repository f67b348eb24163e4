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
from rolloutlab.routers.sticky_buckets import BUCKET_HEADER, BUCKETS, bucket_ranges, bucket_value
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
MAX_MATCHES_PER_RULE = 64  # rules[].matches
MAX_MATCHES = 128  # matches over all rules of a route (a CEL rule of the CRD)
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


def _bucket_rules(names: K8sNames, state: RoutingState) -> list[dict[str, Any]]:
    """One rule per arm (two past MAX_MATCHES_PER_RULE buckets), matching the arm's buckets Exact."""
    rules = []
    for version, buckets in bucket_ranges(state.active()).items():
        matches = [{"path": {"type": "PathPrefix", "value": "/"},
                    "headers": [{"type": "Exact", "name": BUCKET_HEADER, "value": bucket_value(b)}]}
                   for b in buckets]
        for start in range(0, len(matches), MAX_MATCHES_PER_RULE):
            rules.append({"matches": matches[start:start + MAX_MATCHES_PER_RULE],
                          "backendRefs": [_backend(names, version, 1)]})
    return rules


def state_annotations(state: RoutingState) -> dict[str, str]:
    """The annotations that carry `state` on a routed object (HTTPRoute, stable Service): always the same text."""
    return {STATE_ANNOTATION: json.dumps(state.to_dict(), separators=(",", ":")),
            GENERATION_ANNOTATION: str(state.generation)}


def render_httproute(state: RoutingState, names: K8sNames, *, gateway_namespace: str | None = None) -> dict[str, Any]:
    """The HTTPRoute `names.httproute` that carries out `state` behind the Gateway `names.gateway`.

    Rules, in the order the Gateway API gives precedence to equally specific matches: one per version
    for `x-model-version`, then the state's header rules, then (sticky) each arm's user buckets
    (routers/sticky_buckets.py), then the weighted default. The bucket rules and the default carry
    the RequestMirror filter, as the NGINX router mirrors the traffic that follows the split.
    """
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
    split = _bucket_rules(names, state) if state.sticky else []
    split.append({
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [_backend(names, version, weight) for version, weight in active.items()],
    })
    if state.mirror is not None:
        mirror = {"type": "RequestMirror",
                  "requestMirror": {"backendRef": _backend(names, state.mirror.version),
                                    "percent": state.mirror.percent}}
        for rule in split:
            rule["filters"] = [mirror]
    rules += split
    if len(rules) > MAX_RULES:
        raise RoutingError(
            f"the state needs {len(rules)} HTTPRoute rules (one per version, one per header rule"
            f"{', the sticky buckets of each arm' if state.sticky else ''}, one default); an HTTPRoute allows {MAX_RULES}"
        )
    matches = sum(len(rule["matches"]) for rule in rules)
    if matches > MAX_MATCHES:
        raise RoutingError(f"the state needs {matches} HTTPRoute matches ({BUCKETS} of them for the sticky buckets); "
                           f"an HTTPRoute allows {MAX_MATCHES} over all its rules: drop header rules or versions")
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
