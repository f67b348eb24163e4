"""A stand-in Gateway controller for the testbed: reports every HTTPRoute of a namespace Accepted.

No Gateway controller runs on the testbed (its pods never run), so nothing would ever write an
HTTPRoute's status and GatewayApiRouter's wait for `Accepted` would time out. This thread watches the
routes and writes `status.parents[]` through the status subresource the way a controller does:
one entry per parentRef, Accepted and ResolvedRefs True with the route's current
metadata.generation as observedGeneration. It accepts whatever the API server stored; it proves
the router's protocol, not Envoy's semantics.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from rolloutlab.routers.kube_api import MERGE_PATCH

GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"
CONTROLLER = "rolloutlab.dev/testbed-stand-in"


def _status(route: dict[str, Any]) -> dict[str, Any]:
    generation = route["metadata"]["generation"]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parents = []
    for ref in route["spec"].get("parentRefs") or []:
        conditions = [{"type": kind, "status": "True", "reason": reason, "message": "testbed stand-in controller",
                       "observedGeneration": generation, "lastTransitionTime": now}
                      for kind, reason in (("Accepted", "Accepted"), ("ResolvedRefs", "ResolvedRefs"))]
        parents.append({"parentRef": ref, "controllerName": CONTROLLER, "conditions": conditions})
    return {"status": {"parents": parents}}


class RouteStatusWriter:
    """Watches HTTPRoutes in `namespace` and marks each generation Accepted; `stop()` ends the thread."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.reported: list[tuple[str, int]] = []  # (route, generation) in the order they were accepted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"route-status-{namespace}", daemon=True)

    def __enter__(self) -> RouteStatusWriter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch()
            except ApiException:
                # A watch resumed at a resourceVersion the server has not reached yet (504) or no longer
                # keeps (410): start a fresh one, which lists every route again first.
                self._stop.wait(0.2)

    def _watch(self) -> None:
        stream = watch.Watch()
        for event in stream.stream(self.api.list_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                   PLURAL, timeout_seconds=1):
            if self._stop.is_set():
                stream.stop()
                return
            route = event["object"]
            if event["type"] in ("ADDED", "MODIFIED") and not self._current(route):
                name = route["metadata"]["name"]
                self.api.patch_namespaced_custom_object_status(GROUP, VERSION, self.namespace, PLURAL, name,
                                                               _status(route), _content_type=MERGE_PATCH)
                self.reported.append((name, route["metadata"]["generation"]))

    @staticmethod
    def _current(route: dict[str, Any]) -> bool:
        """True when the status already reports this generation (our own status write comes back as MODIFIED)."""
        generation = route["metadata"]["generation"]
        parents = (route.get("status") or {}).get("parents") or []
        return bool(parents) and all(c.get("observedGeneration") == generation
                                     for p in parents for c in p.get("conditions") or [])
