"""The one place that picks a TrafficRouter implementation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routers.nginx_config import NginxLayout

KUBERNETES_ROUTERS = ("gateway-api", "service-selector")


def nginx_router(nginx: str, layout: NginxLayout) -> TrafficRouter:
    """The local target's router: NGINX with the given layout (its master found by its pid file)."""
    from rolloutlab.routers.nginx import NginxRouter

    return NginxRouter(nginx, layout)


def kubernetes_router(kind: str, names: K8sNames, versions: Iterable[str], api_client: Any = None, *,
                      wait_accepted: bool = True) -> TrafficRouter:
    """A Kubernetes router: "gateway-api" (weights, header rules, mirroring) or "service-selector" (blue-green).

    api_client is a kubernetes.client.ApiClient; by default one from the current kubeconfig context.
    wait_accepted=False: the Gateway API router does not wait for a Gateway controller to accept a
    route (control planes without one, like the CI testbed; see GatewayApiRouter).
    """
    if kind not in KUBERNETES_ROUTERS:
        raise RoutingError(f"unknown Kubernetes router {kind!r}; choose one of {', '.join(KUBERNETES_ROUTERS)}")
    from kubernetes import client

    from rolloutlab.routers.kube_api import kubeconfig_client

    api_client = api_client or kubeconfig_client()
    if kind == "gateway-api":
        from rolloutlab.routers.gateway_api import GatewayApiRouter

        return GatewayApiRouter(client.CustomObjectsApi(api_client), names, versions, wait_accepted=wait_accepted)
    from rolloutlab.routers.service_selector import ServiceSelectorRouter

    return ServiceSelectorRouter(client.CoreV1Api(api_client), names, versions)

