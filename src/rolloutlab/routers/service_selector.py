"""ServiceSelectorRouter: Kubernetes blue-green by switching which version's pods a Service selects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import APP_LABEL, VERSION_LABEL, K8sNames
from rolloutlab.routers.httproute import STATE_ANNOTATION, state_annotations
from rolloutlab.routers.kube_api import MERGE_PATCH, call
from rolloutlab.routing import RoutingState


class CoreApi(Protocol):
    """The part of kubernetes.client.CoreV1Api the router uses."""

    def read_namespaced_service(self, name: str, namespace: str, **kwargs: Any) -> Any: ...

    def patch_namespaced_service(self, name: str, namespace: str, body: Any, **kwargs: Any) -> Any: ...

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any: ...


def _ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


class ServiceSelectorRouter:
    """Points the Service `names.stable_service` at all pods of exactly one version.

    Only all-or-nothing states can be carried out: one version with a positive weight, no header
    rules, no stickiness, no mirror (a selector has no notion of any of them). The switch is
    refused while the new version has no ready pod, so traffic never moves onto nothing.
    """

    def __init__(self, api: CoreApi, names: K8sNames, versions: Iterable[str]) -> None:
        self.api = api
        self.names = names
        self.versions = frozenset(versions)
        self.where = f"Service {names.namespace}/{names.stable_service}"

    def _read(self) -> Any:
        return call(f"reading {self.where}", lambda: self.api.read_namespaced_service(
            self.names.stable_service, self.names.namespace))

    def current(self) -> RoutingState:
        service = self._read()
        annotations = service.metadata.annotations or {}
        if STATE_ANNOTATION in annotations:
            try:
                return RoutingState.from_dict(json.loads(annotations[STATE_ANNOTATION]), where=self.where)
            except ValueError as exc:
                raise RoutingError(f"{self.where}: annotation {STATE_ANNOTATION} is not JSON ({exc})") from exc
        # Not switched by Rollout Lab yet: the selector says which version serves.
        selected = (service.spec.selector or {}).get(VERSION_LABEL)
        if selected not in self.versions:
            raise RoutingError(f"{self.where} selects no known version ({VERSION_LABEL}={selected!r})")
        return RoutingState({v: 100 if v == selected else 0 for v in sorted(self.versions)})

    def apply(self, state: RoutingState) -> RoutingState:
        state.validate(self.versions)
        active = list(state.active())
        if len(active) != 1:
            raise RoutingError(
                f"the Service-selector router switches all traffic at once: exactly one version may have a "
                f"positive weight, got {state.describe()} (use the Gateway API router for splits)"
            )
        if state.rules or state.sticky or state.mirror:
            raise RoutingError("the Service-selector router cannot carry out header rules, sticky assignment "
                               f"or mirroring, got {state.describe()} (use the Gateway API router)")
        target = active[0]
        self._require_ready(target)
        service = self._read()
        previous = self.current()
        new = state.with_generation(previous.generation + 1)
        labels = self.names.version_labels(target)
        body = {
            "metadata": {"resourceVersion": service.metadata.resource_version, "annotations": state_annotations(new)},
            "spec": {"selector": labels},
        }
        patched = call(f"patching {self.where}", lambda: self.api.patch_namespaced_service(
            self.names.stable_service, self.names.namespace, body, _content_type=MERGE_PATCH))
        selector = (patched.spec.selector or {}) if patched.spec else {}
        if any(selector.get(k) != v for k, v in labels.items()):
            raise RoutingError(f"{self.where} selects {selector} after the patch, not version {target}")
        return new

    def _require_ready(self, version: str) -> None:
        selector = f"{APP_LABEL}={self.names.service},{VERSION_LABEL}={version}"
        pods = call(f"listing pods of {version}", lambda: self.api.list_namespaced_pod(
            self.names.namespace, label_selector=selector))
        if not any(_ready(p) for p in pods.items or []):
            raise RoutingError(f"version {version} has no ready pod ({selector}); {self.where} keeps its selector")
