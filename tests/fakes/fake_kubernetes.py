"""In-memory fakes of the Kubernetes client APIs the routers use, for tests where no cluster runs.

They keep objects as the API server would for the calls the routers make: merge patches, the
resourceVersion precondition (409 on a stale one), metadata.generation bumped on spec changes, and
a stand-in Gateway controller that reports on each route generation. Every patch is recorded;
`fail_next` makes the next call raise the ApiException a real server would.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rolloutlab.routers.kube_api import merge_patch


class _Server:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.fail_next: ApiException | None = None
        self._resource_version = 100

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _patched(self, current: dict[str, Any], body: dict[str, Any], content_type: str | None) -> dict[str, Any]:
        if content_type != "application/merge-patch+json":
            raise ApiException(status=415, reason=f"fake supports merge patches only, got {content_type}")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.patches.append(copy.deepcopy(body))
        updated = merge_patch(current, body)
        updated["metadata"]["resourceVersion"] = self._next_version()
        if updated.get("spec") != current.get("spec"):
            updated["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return updated


class FakeCustomObjectsApi(_Server):
    """HTTPRoutes only; `controller` decides what the Gateway reports: accept, reject or silent."""

    def __init__(self, gateway: str, controller: str = "accept") -> None:
        super().__init__()
        self.gateway = gateway
        self.controller = controller
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def create(self, manifest: dict[str, Any]) -> None:
        obj = copy.deepcopy(manifest)
        obj["metadata"].update(resourceVersion=self._next_version(), generation=1)
        self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        self._report(obj)

    def _report(self, obj: dict[str, Any]) -> None:
        if self.controller == "silent":
            return
        accepted = "True" if self.controller == "accept" else "False"
        generation = obj["metadata"]["generation"]
        obj["status"] = {"parents": [{
            "parentRef": {"name": self.gateway},
            "controllerName": "example.com/fake-gateway",
            "conditions": [
                {"type": "Accepted", "status": accepted, "observedGeneration": generation,
                 "reason": "Accepted" if accepted == "True" else "UnsupportedValue", "message": "fake controller"},
                {"type": "ResolvedRefs", "status": "True", "observedGeneration": generation, "reason": "ResolvedRefs"},
            ],
        }]}

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                     name: str, **_: Any) -> dict[str, Any]:
        self._maybe_fail()
        if (namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.objects[(namespace, name)])

    def patch_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                       name: str, body: Any, _content_type: str | None = None,
                                       **_: Any) -> dict[str, Any]:
        self._maybe_fail()
        if (namespace, name) not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        updated = self._patched(self.objects[(namespace, name)], body, _content_type)
        self.objects[(namespace, name)] = updated
        self._report(updated)
        return copy.deepcopy(updated)


class FakeCoreV1Api(_Server):
    """Services and pods, returned as the client's own model objects (V1Service, V1PodList)."""

    def __init__(self) -> None:
        super().__init__()
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []

    def add_service(self, namespace: str, name: str, selector: dict[str, str]) -> None:
        self.services[(namespace, name)] = {
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": self._next_version()},
            "spec": {"selector": dict(selector)},
        }

    def add_pod(self, namespace: str, name: str, labels: dict[str, str], ready: bool = True) -> None:
        self.pods.append({"namespace": namespace, "name": name, "labels": dict(labels), "ready": ready})

    @staticmethod
    def _service(data: dict[str, Any]) -> client.V1Service:
        meta = data["metadata"]
        return client.V1Service(
            metadata=client.V1ObjectMeta(name=meta["name"], namespace=meta["namespace"],
                                         resource_version=meta["resourceVersion"], annotations=meta.get("annotations")),
            spec=client.V1ServiceSpec(selector=data["spec"].get("selector")),
        )

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> client.V1Service:
        self._maybe_fail()
        if (namespace, name) not in self.services:
            raise ApiException(status=404, reason="Not Found")
        return self._service(self.services[(namespace, name)])

    def patch_namespaced_service(self, name: str, namespace: str, body: Any, _content_type: str | None = None,
                                 **_: Any) -> client.V1Service:
        self._maybe_fail()
        if (namespace, name) not in self.services:
            raise ApiException(status=404, reason="Not Found")
        updated = self._patched(self.services[(namespace, name)], body, _content_type)
        self.services[(namespace, name)] = updated
        return self._service(updated)

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> client.V1PodList:
        self._maybe_fail()
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(",") if pair)
        items = [
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=p["name"], namespace=namespace, labels=p["labels"]),
                status=client.V1PodStatus(conditions=[
                    client.V1PodCondition(type="Ready", status="True" if p["ready"] else "False")]),
            )
            for p in self.pods
            if p["namespace"] == namespace and all(p["labels"].get(k) == v for k, v in wanted.items())
        ]
        return client.V1PodList(items=items)
