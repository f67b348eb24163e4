"""RolloutLab: everything one lab runs on a cluster — its namespace, the model versions, router, Prometheus and load."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from rolloutlab.infra.config import StackConfig, load_settings
from rolloutlab.infra.gateway import ENVOY_GATEWAY_NAMESPACE, GATEWAY_CLASS, PATCH_FORCE, ROUTER_PORT, ROUTER_SERVICE, ModelRouter
from rolloutlab.infra.load_generator import MASTER_NAME, WEB_PORT, LoadGenerator
from rolloutlab.infra.model_version import ModelVersion
from rolloutlab.infra.prometheus import PROMETHEUS_PORT, Prometheus
from rolloutlab.k8s_names import MODEL_PORT, PART_OF, PART_OF_LABEL, K8sNames
from rolloutlab.routers.httproute import state_annotations


class RolloutLab(pulumi.ComponentResource):
    """The lab on one cluster; `endpoints` is what the KubernetesTarget and the user need to reach it."""

    versions: dict[str, ModelVersion]
    stable: k8s.core.v1.Service
    router: ModelRouter
    prometheus: Prometheus
    load: LoadGenerator | None
    endpoints: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        config: StackConfig,
        names: K8sNames,
        *,
        locustfiles: Mapping[str, str],
        holdout: str,
        load_image: str = "",
        envoy_gateway_chart: tuple[str, str | None] | None = None,
        images_ready: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:lab:RolloutLab", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": names.namespace, "labels": {
                PART_OF_LABEL: PART_OF,
                # The lab's own pods all meet the restricted Pod Security Standard; enforce it.
                "pod-security.kubernetes.io/enforce": "restricted",
            }},
            opts=child,
        )
        namespace = ns.metadata["name"]
        self.versions = {
            version: ModelVersion(
                f"{name}-{version.lower()}", version=version, names=names, namespace=namespace,
                registry=config.registry, replicas=config.replicas, image_pull_policy=config.image_pull_policy,
                wait_for=images_ready, opts=child,
            )
            for version in config.versions
        }
        # Blue-green by Service selector: the ServiceSelectorRouter switches this Service between versions'
        # pods at run time. It selects the recorded version (the first one until a run records another)
        # and carries the same annotations the router writes, so a refresh after a recorded run finds no change.
        stable_state = config.routing.stable_state(config.versions)
        selected = next(iter(stable_state.active()))
        self.stable = k8s.core.v1.Service(
            f"{name}-stable",
            metadata={"name": names.stable_service, "namespace": namespace,
                      "labels": {PART_OF_LABEL: PART_OF},
                      "annotations": {**PATCH_FORCE, **state_annotations(stable_state)}},
            spec={"type": "ClusterIP", "selector": names.version_labels(selected),
                  "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http", "protocol": "TCP"}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versions[selected].deployment]),
        )
        chart = envoy_gateway_chart or (config.envoy_gateway_chart, config.envoy_gateway_version)
        self.router = ModelRouter(
            f"{name}-router", names=names, namespace=namespace, routing=config.routing.route_state(config.versions),
            install_envoy_gateway=config.install_envoy_gateway, envoy_gateway_chart=chart,
            backends=[v.service for v in self.versions.values()], gateway_class=config.gateway_class,
            port=config.gateway_port, gateway_url=config.gateway_url, opts=child,
        )
        self.prometheus = Prometheus(f"{name}-prometheus", names=names, namespace=namespace,
                                     image=config.prometheus_image, versions=config.versions,
                                     gateway_metrics=config.gateway_metrics, opts=child)
        self.load = None
        if config.load_workers > 0:
            self.load = LoadGenerator(
                f"{name}-load", namespace=namespace, target_url=self.router.url, locustfiles=locustfiles,
                holdout=holdout, image=load_image or config.load_image, workers=config.load_workers,
                env=load_settings(config),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.router, *images_ready]),
            )
        self.endpoints = pulumi.Output.all(
            namespace=namespace,
            versions=pulumi.Output.all(**{v: mv.url for v, mv in self.versions.items()}),
            router=self.router.url,
            prometheus=self.prometheus.url,
        ).apply(lambda values: {
            "namespace": values["namespace"],
            "versions": values["versions"],
            # In-cluster URLs, and the Services a port-forward reaches them through.
            # An existing gateway (gatewayClass) has no Service of the stack's to forward to: only its URL.
            "router": ({"url": values["router"], "namespace": None, "service": None, "port": config.gateway_port,
                        "class": config.gateway_class} if config.gateway_class else
                       {"url": values["router"], "namespace": ENVOY_GATEWAY_NAMESPACE,
                        "service": ROUTER_SERVICE, "port": ROUTER_PORT, "class": GATEWAY_CLASS}),
            "stable": {"url": f"http://{names.stable_service}.{values['namespace']}.svc.cluster.local:{MODEL_PORT}",
                       "namespace": values["namespace"], "service": names.stable_service, "port": MODEL_PORT},
            "prometheus": {"url": values["prometheus"], "namespace": values["namespace"],
                           "service": "prometheus", "port": PROMETHEUS_PORT},
            "load": ({"namespace": values["namespace"], "service": MASTER_NAME, "port": WEB_PORT,
                      "workers": config.load_workers} if self.load else None),
        })
        self.register_outputs({"endpoints": self.endpoints})

