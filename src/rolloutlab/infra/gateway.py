"""ModelRouter: the cluster's data plane — a Gateway and the initial HTTPRoute, on Envoy Gateway (Helm) and the
lab's own GatewayClass by default, or on a GatewayClass the cluster already has (e.g. Traefik's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import yaml

from rolloutlab.errors import ClusterError
from rolloutlab.infra.config import ENVOY_GATEWAY_CHART
from rolloutlab.k8s_names import PART_OF, PART_OF_LABEL, K8sNames
from rolloutlab.routers.httproute import render_httproute
from rolloutlab.routing import RoutingState

REMOTE_CHART_PREFIXES = ("oci://", "https://", "http://")
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"  # where Envoy Gateway runs the proxies it manages
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
GATEWAY_CLASS = "rolloutlab"
PROXY_CONFIG = "rolloutlab-proxy"
ROUTER_SERVICE = "rolloutlab-router"  # the proxy's Service: pinned, so load and port-forwards need no lookup
ROUTER_PORT = 80
# The program renders the route from the recorded routing (infra/routing_record.py); at run time the
# GatewayApiRouter patches it. When a later `pulumi up` applies the program's (recorded) state, it takes
# the fields back instead of failing on the field-manager conflict.
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def chart_source(chart: str, version: str, project_dir: Path) -> tuple[str, str | None]:
    """The Helm chart to install and the version to ask for: (OCI/URL reference, version) or (local dir, None).

    A local chart directory (air-gapped machines, the CI testbed) is installed as it is, so the
    version is checked against its Chart.yaml instead of being passed to Helm (ClusterError if they differ).
    """
    if chart.startswith(REMOTE_CHART_PREFIXES):
        return chart, version
    where = f"rolloutlab:envoyGatewayChart {chart!r}"
    path = Path(chart).expanduser()
    path = path if path.is_absolute() else project_dir / path
    manifest = path / "Chart.yaml"
    if not manifest.is_file():
        raise ClusterError(f"{where}: no Helm chart at {path} (no Chart.yaml); give an oci:// reference or a chart directory")
    try:
        declared = str((yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}).get("version", ""))
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"{where}: cannot read {manifest}: {exc}") from None
    if declared.lstrip("v") != version.lstrip("v"):
        raise ClusterError(f"{where}: {manifest} is version {declared or '(none)'}, but rolloutlab:envoyGatewayVersion "
                           f"is {version}; set them to the same version")
    return str(path.resolve()), None


class ModelRouter(pulumi.ComponentResource):
    """The lab's Gateway and the HTTPRoute carrying `routing`.

    With `gateway_class` "" the stack brings its own data plane: Envoy Gateway (when `install_envoy_gateway`)
    and the GatewayClass `rolloutlab` with a pinned proxy Service name. With a class name it creates only
    the Gateway (listener on `port`) and the route, and in-cluster clients reach it at `gateway_url`.
    `envoy_gateway_chart` is what chart_source returned: (chart, version to ask Helm for, or None).
    """

    gateway: k8s.apiextensions.CustomResource
    route: k8s.apiextensions.CustomResource
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        names: K8sNames,
        namespace: pulumi.Input[str],
        routing: RoutingState,
        install_envoy_gateway: bool,
        envoy_gateway_chart: tuple[str, str | None] = (ENVOY_GATEWAY_CHART, "v1.9.0"),
        backends: Sequence[pulumi.Resource] = (),
        gateway_class: str = "",
        port: int = ROUTER_PORT,
        gateway_url: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:gateway:ModelRouter", name, None, opts)
        labels = {PART_OF_LABEL: PART_OF}
        class_deps = ([] if gateway_class else
                      self._envoy_gateway_class(name, namespace, install_envoy_gateway, envoy_gateway_chart, labels))
        self.gateway = self._resource(f"{name}-gateway", GATEWAY_API, "Gateway",
                                      {"name": names.gateway, "namespace": namespace, "labels": labels}, {
            "gatewayClassName": gateway_class or GATEWAY_CLASS,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": port,
                           "allowedRoutes": {"namespaces": {"from": "Same"}}}],
        }, pulumi.ResourceOptions(parent=self, depends_on=class_deps))

        route = render_httproute(routing, names)
        metadata = dict(route["metadata"])
        metadata["annotations"] = {**metadata.get("annotations", {}), **PATCH_FORCE}
        metadata["labels"] = {**metadata.get("labels", {}), **labels}
        metadata["namespace"] = namespace
        self.route = self._resource(f"{name}-route", route["apiVersion"], route["kind"], metadata, route["spec"],
                                    pulumi.ResourceOptions(parent=self, depends_on=[self.gateway, *backends]))
        self.url = pulumi.Output.from_input(
            gateway_url if gateway_class else f"http://{ROUTER_SERVICE}.{ENVOY_GATEWAY_NAMESPACE}.svc.cluster.local:{port}")
        self.register_outputs({"url": self.url})

    def _envoy_gateway_class(self, name: str, namespace: pulumi.Input[str], install: bool,
                             chart: tuple[str, str | None], labels: Mapping[str, str]) -> list[pulumi.Resource]:
        """Envoy Gateway (if `install`), its EnvoyProxy settings and the lab's GatewayClass: what the Gateway waits for."""
        installed: list[pulumi.Resource] = []
        if install:
            installed.append(k8s.helm.v3.Release(
                f"{name}-envoy-gateway",
                name="envoy-gateway",
                chart=chart[0],
                version=chart[1],
                namespace=ENVOY_GATEWAY_NAMESPACE,
                create_namespace=True,
                # The chart installs the Gateway API and Envoy Gateway CRDs; wait until its controller is
                # ready so the custom resources below are accepted.
                skip_await=False,
                timeout=600,
                opts=pulumi.ResourceOptions(parent=self),
            ))
        after_install = pulumi.ResourceOptions(parent=self, depends_on=installed)
        proxy = self._resource(f"{name}-proxy-config", ENVOY_API, "EnvoyProxy",
                               {"name": PROXY_CONFIG, "namespace": namespace, "labels": labels}, {
            "provider": {"type": "Kubernetes", "kubernetes": {
                "envoyService": {"name": ROUTER_SERVICE, "type": "ClusterIP"},
                "envoyDeployment": {"replicas": 1},
            }},
        }, after_install)
        gateway_class = self._resource(f"{name}-class", GATEWAY_API, "GatewayClass",
                                       {"name": GATEWAY_CLASS, "labels": dict(labels)}, {
            "controllerName": CONTROLLER_NAME,
            "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                              "name": PROXY_CONFIG, "namespace": namespace},
        }, pulumi.ResourceOptions(parent=self, depends_on=[*installed, proxy]))
        return [gateway_class]

    @staticmethod
    def _resource(name: str, api_version: str, kind: str, metadata: Mapping[str, object],
                  spec: Mapping[str, object], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind,
                                                metadata=dict(metadata), spec=dict(spec), opts=opts)
