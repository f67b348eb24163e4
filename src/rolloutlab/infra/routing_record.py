"""The routing a rollout decided, kept in the stack's config so `pulumi up` renders it instead of reverting it.

A rollout changes the HTTPRoute (GatewayApiRouter) or the stable Service's selector
(ServiceSelectorRouter) that the Pulumi program created. Pulumi compares its program with its state
file, so a plain `pulumi up` misses that change and `pulumi up --refresh` puts the route back on the
first version. Instead, the run writes its final state into `rolloutlab:routing` in
`stacks/Pulumi.<stack>.yaml` (`record_routing`), and the program renders both objects from it: after
the record, the program, the state file and the cluster agree, so a refresh finds nothing to change.
Without a record (or after a crash before it), `pulumi up --refresh` restores the last recorded
state — the safe default, never a half-finished split.

    rolloutlab:routing:
      httproute:     {generation: 4, weights: {v1: 0, v2: 100}, rules: [], sticky: false, mirror: null}
      stableService: {generation: 2, weights: {v1: 0, v2: 100}, rules: [], sticky: false, mirror: null}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rolloutlab.errors import ClusterError, RoutingError
from rolloutlab.routing import RoutingState

CONFIG_PREFIX = "rolloutlab:"
ROUTING_KEY = "routing"
ROUTE_ENTRY = "httproute"  # the HTTPRoute, as the GatewayApiRouter leaves it
STABLE_ENTRY = "stableService"  # the blue-green Service, as the ServiceSelectorRouter leaves it
ENTRIES = (ROUTE_ENTRY, STABLE_ENTRY)


def initial_state(versions: Sequence[str], reason: str = "initial (pulumi up)") -> RoutingState:
    """All traffic on the first version (the baseline), none on the others: where every experiment starts."""
    return RoutingState({v: (100 if i == 0 else 0) for i, v in enumerate(versions)}, reason=reason)


@dataclass(frozen=True)
class RoutingRecord:
    """The recorded final state of each routed object; None = never recorded (the initial state)."""

    httproute: RoutingState | None = None
    stable_service: RoutingState | None = None

    def route_state(self, versions: Sequence[str]) -> RoutingState:
        """The HTTPRoute's state: the record, with versions added since at weight 0 (reachable by header only)."""
        return _with_versions(self.httproute, versions)

    def stable_state(self, versions: Sequence[str]) -> RoutingState:
        """The stable Service's state: the record, else all traffic on the first version."""
        return _with_versions(self.stable_service, versions)

    def to_config(self) -> dict[str, Any]:
        """The record as the structured value of `rolloutlab:routing`."""
        entries = {ROUTE_ENTRY: self.httproute, STABLE_ENTRY: self.stable_service}
        return {key: state.to_dict() for key, state in entries.items() if state is not None}


def _with_versions(recorded: RoutingState | None, versions: Sequence[str]) -> RoutingState:
    if recorded is None:
        return initial_state(versions)
    missing = {v: 0 for v in versions if v not in recorded.weights}
    return RoutingState({**recorded.weights, **missing}, generation=recorded.generation, reason="recorded",
                        rules=recorded.rules, sticky=recorded.sticky, mirror=recorded.mirror)


def parse_routing(value: object, versions: Sequence[str], where: str) -> RoutingRecord:
    """Parse `rolloutlab:routing` (JSON text or a mapping) and check it against the deployed versions.

    A recorded state may name only versions the stack deploys; a version dropped from
    `rolloutlab:versions` may not keep traffic, a header rule or the mirror (ClusterError names the field).
    """
    if value in (None, ""):
        return RoutingRecord()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ClusterError(f"{where} must be a mapping (httproute, stableService), not {value!r}: {exc}") from None
    if not isinstance(value, Mapping):
        raise ClusterError(f"{where} must be a mapping with httproute and/or stableService, got {value!r}")
    unknown = sorted(set(value) - set(ENTRIES))
    if unknown:
        raise ClusterError(f"{where}: unknown entr{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                           f"(known: {', '.join(ENTRIES)})")
    states: dict[str, RoutingState | None] = {}
    for entry in ENTRIES:
        raw = value.get(entry)
        states[entry] = None if raw is None else _parse_state(raw, versions, f"{where}.{entry}")
    stable = states[STABLE_ENTRY]
    if stable is not None and (len(stable.active()) != 1 or stable.rules or stable.sticky or stable.mirror):
        raise ClusterError(f"{where}.{STABLE_ENTRY}: the stable Service selects exactly one version; "
                           f"got {stable.describe()}")
    return RoutingRecord(states[ROUTE_ENTRY], stable)


def _parse_state(raw: object, versions: Sequence[str], where: str) -> RoutingState:
    try:
        state = RoutingState.from_dict(raw, where=where)  # type: ignore[arg-type]
    except RoutingError as exc:
        raise ClusterError(str(exc)) from None
    deployed = set(versions)
    dropped = {v for v, w in state.weights.items() if v not in deployed and w == 0}
    referenced = {r.version for r in state.rules} | ({state.mirror.version} if state.mirror else set())
    # A version removed from the stack that the record gives nothing to simply leaves the route with it.
    weights = {v: w for v, w in state.weights.items() if v not in dropped - referenced}
    state = RoutingState(weights, generation=state.generation, reason=state.reason, rules=state.rules,
                         sticky=state.sticky, mirror=state.mirror)
    try:
        state.validate(deployed)
    except RoutingError as exc:
        raise ClusterError(f"{where}: {exc} (rolloutlab:versions deploys {', '.join(versions)})") from None
    return state


def record_routing(stack: str, work_dir: Path, *, httproute: RoutingState | None = None,
                   stable_service: RoutingState | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Write a run's final state(s) into `rolloutlab:routing` of `stack` (its Pulumi.<stack>.yaml); returns the value.

    The run calls this at its end with what its router returned; an entry not given keeps its
    recorded value. Written with `pulumi config set-all --json`, so the stack file holds it as
    structured YAML that the program reads back exactly (integers stay integers).
    """
    from pulumi import automation as auto

    if stable_service is not None and (len(stable_service.active()) != 1 or stable_service.rules
                                       or stable_service.sticky or stable_service.mirror):
        raise ClusterError(f"the stable Service selects exactly one version; cannot record {stable_service.describe()}")
    key = f"{CONFIG_PREFIX}{ROUTING_KEY}"
    env = {"PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""), **(env or {})}
    try:
        workspace = auto.LocalWorkspace(work_dir=str(work_dir), env_vars=env)
        current = workspace.get_all_config(stack).get(key)
        structured: dict[str, Any] = {}
        if current is not None and current.value:
            try:
                loaded = json.loads(current.value)
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                raise ClusterError(f"{key} in stack {stack!r} is not a mapping ({current.value!r}); fix or remove it")
            structured = {k: v for k, v in loaded.items() if k in ENTRIES}
        for entry, state in ((ROUTE_ENTRY, httproute), (STABLE_ENTRY, stable_service)):
            if state is not None:
                structured[entry] = state.to_dict()
        workspace.set_all_config_json(stack, json.dumps(
            {key: {"value": json.dumps(structured), "objectValue": structured, "secret": False}}))
    except auto.CommandError as exc:
        raise ClusterError(f"recording the routing in stack {stack!r} failed: {str(exc).strip()[-600:]}") from None
    return structured
