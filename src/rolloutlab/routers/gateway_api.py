"""GatewayApiRouter: carries out routing states by patching the lab's HTTPRoute through the Kubernetes API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.httproute import GATEWAY_GROUP, render_httproute, state_of
from rolloutlab.routers.kube_api import MERGE_PATCH, call
from rolloutlab.routing import RoutingState

PLURAL = "httproutes"
VERSION = "v1"


class CustomObjects(Protocol):
    """The part of kubernetes.client.CustomObjectsApi the router uses."""

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                     name: str, **kwargs: Any) -> dict[str, Any]: ...

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                       name: str, body: Any, **kwargs: Any) -> dict[str, Any]: ...


class GatewayApiRouter:
    """Patches the HTTPRoute `names.httproute` (created by the Pulumi stack) to each new state.

    A state is live once the Gateway's controller reports the route Accepted with resolved
    references for the route's new metadata.generation; if it refuses or stays silent for
    `verify_timeout` seconds, the previous rules are patched back and RoutingError says why.
    `wait_accepted=False` counts a state as live once the API server stored it: for a control plane
    without a Gateway controller (the CI testbed), never for measuring real traffic.
    """

    def __init__(self, api: CustomObjects, names: K8sNames, versions: Iterable[str], *,
                 verify_timeout: float = 30.0, poll_interval: float = 0.5, wait_accepted: bool = True,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.names = names
        self.versions = frozenset(versions)
        self.verify_timeout = verify_timeout
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock
        self.wait_accepted = wait_accepted
        self.where = f"HTTPRoute {names.namespace}/{names.httproute}"

    def _get(self) -> dict[str, Any]:
        return call(f"reading {self.where}", lambda: self.api.get_namespaced_custom_object(
            GATEWAY_GROUP, VERSION, self.names.namespace, PLURAL, self.names.httproute))

    def _patch(self, body: dict[str, Any], what: str) -> dict[str, Any]:
        return call(f"{what} {self.where}", lambda: self.api.patch_namespaced_custom_object(
            GATEWAY_GROUP, VERSION, self.names.namespace, PLURAL, self.names.httproute, body,
            _content_type=MERGE_PATCH))

    def current(self) -> RoutingState:
        return state_of(self._get())

    def apply(self, state: RoutingState) -> RoutingState:
        state.validate(self.versions)
        route = self._get()
        previous = state_of(route)
        new = state.with_generation(previous.generation + 1)
        rendered = render_httproute(new, self.names)  # refuses what an HTTPRoute cannot express
        body = {
            # The resourceVersion we read: if anyone changed the route since, the API refuses (409).
            "metadata": {"annotations": rendered["metadata"]["annotations"],
                         "resourceVersion": route["metadata"].get("resourceVersion")},
            "spec": {"rules": rendered["spec"]["rules"]},
        }
        patched = self._patch(body, "patching")
        if not self.wait_accepted:
            return new
        problem = self._wait_accepted(int(patched["metadata"].get("generation", 0)))
        if problem is None:
            return new
        restore = {"metadata": {"annotations": route["metadata"].get("annotations") or {}},
                   "spec": {"rules": route["spec"]["rules"]}}
        self._patch(restore, "restoring the previous rules of")
        raise RoutingError(f"{self.where} generation {new.generation} not live: {problem}; kept {previous.describe()}")

    def _wait_accepted(self, generation: int) -> str | None:
        """None once the controller accepted `generation` of the route, else what went wrong."""
        deadline = self.clock() + self.verify_timeout
        while True:
            route = self._get()
            verdict = self._verdict(route, generation)
            if verdict is not None:
                return verdict or None
            if self.clock() >= deadline:
                return self._silence(route, generation)
            self.sleep(self.poll_interval)

    def _silence(self, route: dict[str, Any], generation: int) -> str:
        """Why waiting timed out: no controller reports on this Gateway at all, or it lags behind."""
        gateway = f"Gateway {self.names.namespace}/{self.names.gateway}"
        reported = [p for p in (route.get("status") or {}).get("parents") or []
                    if (p.get("parentRef") or {}).get("name") == self.names.gateway]
        if not reported:
            return (f"no Gateway controller set Accepted on it for {gateway} within {self.verify_timeout:g}s "
                    "(status.parents is empty: is the gateway's controller, e.g. Envoy Gateway, running and its "
                    "GatewayClass accepted? Without a controller, nothing routes; wait_accepted=False only "
                    "checks that the API server stored the route)")
        return (f"the controller of {gateway} did not report Accepted and ResolvedRefs for generation "
                f"{generation} within {self.verify_timeout:g}s")

    def _verdict(self, route: dict[str, Any], generation: int) -> str | None:
        """'' if accepted, a reason if refused, None while the controller has not seen `generation`."""
        for parent in (route.get("status") or {}).get("parents") or []:
            if (parent.get("parentRef") or {}).get("name") != self.names.gateway:
                continue
            conditions = {c.get("type"): c for c in parent.get("conditions") or []}
            if any(int(c.get("observedGeneration", -1)) < generation for c in conditions.values()):
                return None
            for kind in ("Accepted", "ResolvedRefs"):
                condition = conditions.get(kind)
                if condition is None:
                    return None
                if condition.get("status") != "True":
                    return f"{kind} is {condition.get('status')} ({condition.get('reason')}: {condition.get('message')})"
            return ""
        return None
