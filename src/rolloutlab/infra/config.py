"""The Kubernetes stack's settings, typed, with defaults: the one module that reads Pulumi config.

Every key lives in the project's config namespace (`rolloutlab:<key>`) and is declared, with the same
default, in Pulumi.yaml; `parse_config` turns the raw strings Pulumi hands a program into a
`StackConfig` and names the key, the stack file and the expected form when a value is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from rolloutlab.errors import ClusterError
from rolloutlab.infra.routing_record import ROUTING_KEY, RoutingRecord, parse_routing

CONFIG_NAMESPACE = "rolloutlab"
CLUSTER_KINDS = ("kind", "minikube", "existing")
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_LOAD_SETTING = re.compile(r"^(ROLLOUTLAB_[A-Z0-9_]+)=(.*)$", re.DOTALL)
# Set by the stack itself (where the rows are mounted, the exporter every pod serves, the worker count).
ENVOY_GATEWAY_CHART = "oci://docker.io/envoyproxy/gateway-helm"
STACK_LOAD_SETTINGS = ("ROLLOUTLAB_HOLDOUT", "ROLLOUTLAB_EXPORTER_PORT", "ROLLOUTLAB_EXPORTER_HOST", "ROLLOUTLAB_WORKERS")


@dataclass(frozen=True)
class StackConfig:
    """What one stack deploys and where; field `foo_bar` is the config key `rolloutlab:fooBar`."""

    cluster: str = "kind"  # kind | minikube (the stack creates the cluster) | existing (a kubeconfig context)
    cluster_name: str = "rolloutlab"  # kind cluster / minikube profile the stack creates and deletes
    kube_context: str = ""  # existing: the kubeconfig context to use ("" = the current one)
    kubernetes_version: str = ""  # kind node image tag / minikube --kubernetes-version ("" = the tool's default)
    versions: tuple[str, ...] = ("v1", "v2")  # model versions to deploy; the first takes all traffic at first
    registry: str = ""  # image registry prefix; "" = images built locally by `rolloutlab models containerize`
    load_images: bool = True  # kind/minikube: copy the local model images into the cluster's nodes
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 1  # pods per model version
    namespace: str = "rolloutlab"
    install_envoy_gateway: bool = True  # false when the cluster already runs Envoy Gateway
    envoy_gateway_chart: str = ENVOY_GATEWAY_CHART  # the OCI chart, or a local chart directory (air-gapped)
    envoy_gateway_version: str = "v1.9.0"  # the chart version (a local chart's Chart.yaml must say the same)
    # "" = install Envoy Gateway and the lab's own GatewayClass; else an existing GatewayClass (e.g. traefik)
    gateway_class: str = ""
    gateway_port: int = 80  # the Gateway listener's port (Traefik serves only a listener on its entrypoint's port)
    gateway_url: str = ""  # an existing gateway: the URL in-cluster clients (the load) reach it at
    gateway_metrics: str = ""  # host:port of the gateway's Prometheus metrics (Traefik's), scraped as job "gateway"
    prometheus_image: str = "prom/prometheus:v3.5.0"
    load_workers: int = 2  # Locust workers beside the master; 0 = no load generator in the cluster
    load_image: str = ""  # "" = build rolloutlab-load (Locust + prometheus_client, as locked) locally
    load_env: tuple[str, ...] = ()  # extra ROLLOUTLAB_*=value settings of the locustfile (users, shape, seed, ...)
    holdout: str = ""  # held-out rows for the load generator ("" = the lab's data/holdout.json)
    routing: RoutingRecord = RoutingRecord()  # the routing the last run left (infra/routing_record.py)

    @staticmethod
    def key(field_name: str) -> str:
        """The config key (without namespace) of a field: cluster_name -> clusterName."""
        head, *rest = field_name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    @property
    def kube_context_name(self) -> str:
        """The kubeconfig context that reaches this stack's cluster ("" = the current context)."""
        if self.cluster == "kind":
            return f"kind-{self.cluster_name}"
        if self.cluster == "minikube":
            return self.cluster_name
        return self.kube_context


def config_keys() -> dict[str, str]:
    """Every config key this program reads, mapped to its field name."""
    return {StackConfig.key(f.name): f.name for f in fields(StackConfig)}


def parse_config(raw: Mapping[str, str], stack: str = "dev") -> StackConfig:
    """Build a StackConfig from raw config strings keyed without namespace (as Pulumi passes them)."""
    source = f"stacks/Pulumi.{stack}.yaml"
    known = config_keys()
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ClusterError(
            f"{source}: unknown config key(s) {', '.join(f'{CONFIG_NAMESPACE}:{k}' for k in unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    defaults = StackConfig()
    values: dict[str, object] = {}
    for key, name in known.items():
        if key in raw and raw[key] is not None and key != ROUTING_KEY:
            values[name] = _convert(raw[key], getattr(defaults, name), f"{source}: {CONFIG_NAMESPACE}:{key}")
    config = StackConfig(**values)  # type: ignore[arg-type]
    _validate(config, source)
    if raw.get(ROUTING_KEY) is not None:
        # Checked against the versions this stack deploys, so parsed once those are known.
        record = parse_routing(raw[ROUTING_KEY], config.versions, f"{source}: {CONFIG_NAMESPACE}:{ROUTING_KEY}")
        config = replace(config, routing=record)
    return config


def _convert(value: str, default: object, where: str) -> object:
    if isinstance(default, bool):
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ClusterError(f"{where} must be true or false, got {value!r}")
    if isinstance(default, int):
        try:
            return int(str(value))
        except ValueError:
            raise ClusterError(f"{where} must be a whole number, got {value!r}") from None
    if isinstance(default, tuple):
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ClusterError(f"{where} must be a list of strings, e.g. [v1, v2], got {value!r}")
        return tuple(items)
    return str(value)


def _validate(config: StackConfig, source: str) -> None:
    def fail(field_name: str, message: str) -> None:
        raise ClusterError(f"{source}: {CONFIG_NAMESPACE}:{StackConfig.key(field_name)} {message}")

    if config.cluster not in CLUSTER_KINDS:
        fail("cluster", f"must be one of {', '.join(CLUSTER_KINDS)}, got {config.cluster!r}")
    for name in ("cluster_name", "namespace"):
        value = getattr(config, name)
        if not _DNS_LABEL.match(value) or len(value) > 40:
            fail(name, f"must be a lowercase DNS label (a-z, 0-9, '-', at most 40 characters), got {value!r}")
    if not config.versions:
        fail("versions", "must name at least one model version")
    repeated = sorted({v for v in config.versions if config.versions.count(v) > 1})
    if repeated:
        fail("versions", f"repeats {', '.join(repeated)}")
    for version in config.versions:
        if not _DNS_LABEL.match(version.lower()) or len(version) > 30:
            fail("versions", f"entry {version!r} cannot name a Kubernetes object (letters, digits, '-', at most 30)")
    if config.image_pull_policy not in PULL_POLICIES:
        fail("image_pull_policy", f"must be one of {', '.join(PULL_POLICIES)}, got {config.image_pull_policy!r}")
    if config.replicas < 1:
        fail("replicas", f"must be at least 1, got {config.replicas}")
    if config.load_workers < 0:
        fail("load_workers", f"must be 0 or more, got {config.load_workers}")
    if config.cluster == "existing" and config.load_images:
        fail("load_images", "must be false on an existing cluster: push the images to a registry and set rolloutlab:registry")
    if config.load_workers and not config.load_image and (config.cluster == "existing" or not config.load_images):
        fail("load_image", "must name an image the cluster can pull when the stack does not load images into it: "
                           "build the Dockerfile in src/rolloutlab/infra/load_image.py, push it and set its "
                           "reference (or set rolloutlab:loadWorkers to 0)")
    if config.gateway_class and not _DNS_LABEL.match(config.gateway_class):
        fail("gateway_class", f"must name a GatewayClass (a lowercase DNS label), got {config.gateway_class!r}")
    if not 0 < config.gateway_port < 65536:
        fail("gateway_port", f"must be a TCP port (1-65535), got {config.gateway_port}")
    if config.gateway_url and not config.gateway_url.startswith(("http://", "https://")):
        fail("gateway_url", f"must be an http:// or https:// URL, got {config.gateway_url!r}")
    if config.gateway_metrics and not _HOST_PORT.match(config.gateway_metrics):
        fail("gateway_metrics", f"must be host:port (e.g. 10.89.0.1:9100), got {config.gateway_metrics!r}")
    if not config.gateway_class and (config.gateway_url or config.gateway_metrics):
        fail("gateway_url" if config.gateway_url else "gateway_metrics",
             "is for an existing gateway: set rolloutlab:gatewayClass too (the installed Envoy Gateway is reached by its Service)")
    if config.gateway_class and config.load_workers and not config.gateway_url:
        fail("gateway_url", f"must say where in-cluster load reaches the {config.gateway_class!r} gateway "
                            "(or set rolloutlab:loadWorkers to 0)")
    for entry in config.load_env:
        match = _LOAD_SETTING.match(entry)
        if not match:
            fail("load_env", f"entry {entry!r} must look like ROLLOUTLAB_NAME=value (see loadtests/locustfile.py)")
        elif match.group(1) in STACK_LOAD_SETTINGS:
            fail("load_env", f"entry {entry!r} sets {match.group(1)}, which the stack sets itself")


def load_settings(config: StackConfig) -> dict[str, str]:
    """The loadEnv entries as environment variables."""
    return dict(entry.split("=", 1) for entry in config.load_env)


def holdout_file(config: StackConfig) -> Path:
    """The held-out rows the load generator sends: the configured file or the lab's data/holdout.json."""
    from rolloutlab import zoo

    return Path(config.holdout).expanduser() if config.holdout else zoo.holdout_path()


def load_config() -> StackConfig:
    """Read the running Pulumi program's `rolloutlab:*` config (project defaults merged in by Pulumi)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    prefix = f"{CONFIG_NAMESPACE}:"
    # Every key Pulumi passed, not only the known ones, so a misspelt key is an error instead of a no-op.
    present = {**(runtime_config.get_config_env() or {}), **runtime_config.CONFIG.get()}
    raw = {k[len(prefix):]: str(v) for k, v in present.items() if k.startswith(prefix)}
    reader = pulumi.Config(CONFIG_NAMESPACE)
    for key in config_keys():
        value = reader.get(key)
        if value is not None:
            raw[key] = value
    return parse_config(raw, pulumi.get_stack())
