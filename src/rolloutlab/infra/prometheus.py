"""Prometheus on the cluster: scrapes every model pod each second with a `version` label, discovered by the pods API."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from rolloutlab.infra.model_version import CONTAINER_SECURITY, restricted_security_context
from rolloutlab.k8s_names import APP_LABEL, METRICS_PATH, PART_OF, PART_OF_LABEL, VERSION_LABEL, K8sNames

PROMETHEUS_PORT = 9090
PROMETHEUS_USER_ID = 65534  # the prom/prometheus image runs as `nobody`
COMPONENT_LABEL = "app.kubernetes.io/component"
SCRAPE_INTERVAL = "1s"


def _meta_label(label: str) -> str:
    """Prometheus' name for a pod label in service discovery: every character outside [a-zA-Z0-9_] becomes _."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def gateway_scrape_job(target: str, names: K8sNames, versions: Sequence[str]) -> dict:
    """Job "gateway": Traefik's metrics at `target` (host:port, out of cluster), each backend's series labelled
    with the `version` whose Service it is, so gateway templates read per version like the model's.

    Traefik names a backend `httproute-<ns>-<route>-gw-...-svc-<ns>-<service>-<i>@kubernetesgateway`.
    """
    return {
        "job_name": "gateway",
        "static_configs": [{"targets": [target]}],
        "metric_relabel_configs": [
            {"source_labels": ["service"], "target_label": "version", "replacement": version,
             "regex": f".*-svc-{re.escape(names.namespace)}-{re.escape(names.version_service(version))}-[0-9]+@kubernetesgateway"}
            for version in versions
        ],
    }


def render_cluster_prometheus_config(names: K8sNames, versions: Sequence[str] = (), gateway_metrics: str = "") -> str:
    """prometheus.yml for the cluster, with the same job and label names as the local lab's.

    - job "model": every Running pod of the model service in the lab's namespace with a version label,
      on its container port named "http", labelled `version` (so the PromQL templates work unchanged);
    - job "load": pods of the lab exposing a container port named "metrics" (the load generator's
      client-side exporter), labelled with their component.
    """
    version_meta = f"__meta_kubernetes_pod_label_{_meta_label(VERSION_LABEL)}"
    discovery = {"role": "pod", "namespaces": {"names": [names.namespace]}}
    common = [
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,  # must not exceed the interval
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "model",
                "metrics_path": METRICS_PATH,
                "kubernetes_sd_configs": [
                    {**discovery, "selectors": [{"role": "pod", "label": f"{APP_LABEL}={names.service}"}]}
                ],
                "relabel_configs": [
                    {"source_labels": [f"__meta_kubernetes_pod_labelpresent_{_meta_label(VERSION_LABEL)}"],
                     "regex": "true", "action": "keep"},
                    {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "http", "action": "keep"},
                    *common,
                    {"source_labels": [version_meta], "target_label": "version"},
                ],
            },
            {
                "job_name": "load",
                "kubernetes_sd_configs": [
                    {**discovery, "selectors": [{"role": "pod", "label": f"{PART_OF_LABEL}={PART_OF}"}]}
                ],
                "relabel_configs": [
                    {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics",
                     "action": "keep"},
                    *common,
                    {"source_labels": [f"__meta_kubernetes_pod_label_{_meta_label(COMPONENT_LABEL)}"],
                     "target_label": "component"},
                ],
            },
        ],
    }
    if gateway_metrics:
        config["scrape_configs"].append(gateway_scrape_job(gateway_metrics, names, versions))
    return yaml.safe_dump(config, sort_keys=False)


class Prometheus(pulumi.ComponentResource):
    """A Prometheus Deployment with RBAC to discover pods in the lab's namespace, its config, and a Service."""

    service: k8s.core.v1.Service
    deployment: k8s.apps.v1.Deployment
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        names: K8sNames,
        namespace: pulumi.Input[str],
        image: str,
        versions: Sequence[str] = (),
        gateway_metrics: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:prometheus:Prometheus", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {APP_LABEL: "prometheus", PART_OF_LABEL: PART_OF, COMPONENT_LABEL: "metrics"}
        metadata = {"name": "prometheus", "namespace": namespace, "labels": labels}
        config_text = render_cluster_prometheus_config(names, versions, gateway_metrics)

        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=metadata, opts=child)
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=metadata,
            # Only what pod discovery needs, only in the lab's namespace.
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=metadata,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata["name"]},
            subjects=[{"kind": "ServiceAccount", "name": account.metadata["name"], "namespace": namespace}],
            opts=child,
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={**metadata, "name": "prometheus-config"},
            data={"prometheus.yml": config_text},
            opts=child,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec={
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    # A changed config rolls the pod, so the running Prometheus never lags its ConfigMap.
                    "metadata": {"labels": labels, "annotations": {
                        "rolloutlab.dev/config-sha256": hashlib.sha256(config_text.encode()).hexdigest()}},
                    "spec": {
                        "serviceAccountName": account.metadata["name"],
                        "securityContext": restricted_security_context(PROMETHEUS_USER_ID),
                        "containers": [{
                            "name": "prometheus",
                            "image": image,
                            "args": [
                                "--config.file=/etc/prometheus/prometheus.yml",
                                "--storage.tsdb.path=/prometheus",
                                "--storage.tsdb.retention.time=1d",
                                f"--web.listen-address=:{PROMETHEUS_PORT}",
                            ],
                            "ports": [{"name": "web", "containerPort": PROMETHEUS_PORT, "protocol": "TCP"}],
                            "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 2},
                            "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "web"}, "periodSeconds": 10},
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                          "limits": {"memory": "1Gi"}},
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
                                {"name": "data", "mountPath": "/prometheus"},
                            ],
                            "securityContext": CONTAINER_SECURITY,
                        }],
                        "volumes": [
                            {"name": "config", "configMap": {"name": config_map.metadata["name"]}},
                            {"name": "data", "emptyDir": {}},
                        ],
                    },
                },
            },
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata,
            spec={
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "web", "port": PROMETHEUS_PORT, "targetPort": "web", "protocol": "TCP"}],
            },
            opts=child,
        )
        self.url = pulumi.Output.concat("http://prometheus.", namespace, f".svc.cluster.local:{PROMETHEUS_PORT}")
        self.register_outputs({"url": self.url})
