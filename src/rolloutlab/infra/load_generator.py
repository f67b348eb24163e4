"""LoadGenerator: distributed Locust in the cluster — one master Deployment and N worker Deployments' pods.

Image choice: a small load image (infra/load_image.py: the official `locustio/locust` image at the
Locust release locked in uv.lock, plus prometheus_client for the locustfile's exporter), not the model
image plus Locust: a model image stays exactly what serves the model, and the load image is built
once and shared by every version. The locustfiles (every .py under loadtests/) and the held-out rows
are shipped as ConfigMaps; the locustfile is configured only by environment variables, as on the
local target, and every pod serves its client metrics for Prometheus' job "load".

The master runs with its web UI and HTTP API (port 8089) and no --headless, so a `pulumi up` starts no
traffic: a run starts load by POSTing to /swarm (its users and, as per-test options, its rate, seed,
shape; see loadtests/locustfile.py), heartbeats to /rolloutlab/heartbeat while it runs, and stops it
with /stop; the master ends a test itself at its bound or when the heartbeat stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from rolloutlab.errors import ClusterError
from rolloutlab.infra.model_version import CONTAINER_SECURITY, restricted_security_context
from rolloutlab.infra.prometheus import COMPONENT_LABEL
from rolloutlab.k8s_names import APP_LABEL, PART_OF, PART_OF_LABEL

LOCUST_USER_ID = 1000  # the image's `locust` user (created by useradd; a name kubelet cannot check as non-root)
LOCUST_DIR = "/home/locust/loadtests"
HOLDOUT_DIR = "/data"
MASTER_PORT = 5557
WEB_PORT = 8089
EXPORTER_PORT = 9646  # the locustfile's client-metrics exporter in every pod; Prometheus' job "load" scrapes it
CONFIGMAP_LIMIT = 1024 * 1024  # bytes the API server accepts in one ConfigMap
MASTER_NAME = "locust-master"
DEFAULT_SWARM_SECONDS = 3600
WORKER_NAME = "locust-worker"


def locust_files(directory: Path) -> dict[str, str]:
    """Every .py file under directory (the locustfile and the modules it imports), by relative path."""
    files = {}
    for path in sorted(directory.rglob("*.py")):
        relative = path.relative_to(directory)
        if "__pycache__" not in relative.parts:
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
    if "locustfile.py" not in files:
        raise ClusterError(f"{directory}: no locustfile.py to ship to the load generator")
    return files


def configmap_keys(paths: Iterable[str]) -> dict[str, str]:
    """A ConfigMap key per relative path ('/' is not allowed in keys, so it becomes '.'), refusing collisions."""
    keys: dict[str, str] = {}
    for path in sorted(paths):
        key = path.replace("/", ".")
        if key in keys:
            raise ClusterError(f"loadtests/{path} and loadtests/{keys[key]} would share the ConfigMap key {key!r}")
        keys[key] = path
    return keys


def read_holdout(path: Path) -> str:
    """The held-out rows as text, checked to fit in a ConfigMap."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClusterError(
            f"held-out rows {path} do not exist: build the versions first (`rolloutlab models build v1`), "
            "or set rolloutlab:holdout to a JSON file of rows"
        ) from None
    if len(text.encode()) > CONFIGMAP_LIMIT - 4096:
        raise ClusterError(f"held-out rows {path} are {len(text.encode())} bytes; a ConfigMap holds at most 1 MiB")
    return text


class LoadGenerator(pulumi.ComponentResource):
    """ConfigMaps with the locustfiles and held-out rows, a Locust master (Deployment + Service) and workers."""

    master: k8s.apps.v1.Deployment
    workers: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    web_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        target_url: pulumi.Input[str],
        locustfiles: Mapping[str, str],
        holdout: str,
        image: str,
        workers: int,
        env: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:load_generator:LoadGenerator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base_labels = {APP_LABEL: "locust", PART_OF_LABEL: PART_OF}
        keys = configmap_keys(locustfiles)
        files = k8s.core.v1.ConfigMap(
            f"{name}-files",
            metadata={"name": "locust-files", "namespace": namespace, "labels": base_labels},
            data={key: locustfiles[path] for key, path in keys.items()},
            opts=child,
        )
        rows = k8s.core.v1.ConfigMap(
            f"{name}-holdout",
            metadata={"name": "locust-holdout", "namespace": namespace, "labels": base_labels},
            data={"holdout.json": holdout},
            opts=child,
        )
        settings = {
            # A test started by hand in the web UI has no heartbeat; it still ends within the hour.
            # A run's /swarm sets its own bound and heartbeat (load/cluster_swarm.py).
            "ROLLOUTLAB_SWARM_TIME": str(DEFAULT_SWARM_SECONDS),
            **(env or {}),
            "ROLLOUTLAB_HOLDOUT": f"{HOLDOUT_DIR}/holdout.json",
            "ROLLOUTLAB_EXPORTER_PORT": str(EXPORTER_PORT),
            "ROLLOUTLAB_EXPORTER_HOST": "0.0.0.0",  # noqa: S104 — scraped by Prometheus from another pod
            "ROLLOUTLAB_WORKERS": str(max(1, workers)),  # so user slots match a single-process run
            "PYTHONUNBUFFERED": "1",
        }
        environment = [{"name": k, "value": v} for k, v in sorted(settings.items())]
        metrics_port = {"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}
        volumes = [
            {"name": "locustfiles", "configMap": {"name": files.metadata["name"], "items": [
                {"key": key, "path": path} for key, path in keys.items()]}},
            {"name": "holdout", "configMap": {"name": rows.metadata["name"]}},
        ]
        mounts = [{"name": "locustfiles", "mountPath": LOCUST_DIR, "readOnly": True},
                  {"name": "holdout", "mountPath": HOLDOUT_DIR, "readOnly": True}]
        locustfile = f"{LOCUST_DIR}/locustfile.py"

        master_labels = {**base_labels, COMPONENT_LABEL: "load-master"}
        self.master = k8s.apps.v1.Deployment(
            f"{name}-master",
            metadata={"name": MASTER_NAME, "namespace": namespace, "labels": master_labels},
            spec=_deployment_spec(master_labels, 1, {
                "name": "locust",
                "image": image,
                "args": ["-f", locustfile, "--master", "--host", target_url,
                         "--master-bind-port", str(MASTER_PORT), "--web-port", str(WEB_PORT)],
                "env": environment,
                "ports": [{"name": "master", "containerPort": MASTER_PORT, "protocol": "TCP"},
                          {"name": "web", "containerPort": WEB_PORT, "protocol": "TCP"}, metrics_port],
                "readinessProbe": {"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 2},
                "volumeMounts": mounts,
            }, volumes),
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-master-service",
            metadata={"name": MASTER_NAME, "namespace": namespace, "labels": master_labels},
            spec={
                "type": "ClusterIP",
                "selector": master_labels,
                "ports": [{"name": "master", "port": MASTER_PORT, "targetPort": "master", "protocol": "TCP"},
                          {"name": "web", "port": WEB_PORT, "targetPort": "web", "protocol": "TCP"}],
            },
            opts=child,
        )
        worker_labels = {**base_labels, COMPONENT_LABEL: "load-worker"}
        master_host = pulumi.Output.concat(MASTER_NAME, ".", namespace, ".svc.cluster.local")
        self.workers = k8s.apps.v1.Deployment(
            f"{name}-workers",
            metadata={"name": WORKER_NAME, "namespace": namespace, "labels": worker_labels},
            spec=_deployment_spec(worker_labels, workers, {
                "name": "locust",
                "image": image,
                "args": ["-f", locustfile, "--worker", "--master-host", master_host,
                         "--master-port", str(MASTER_PORT)],
                "env": environment,
                "ports": [metrics_port],
                "volumeMounts": mounts,
            }, volumes),
            # Workers retry until the master answers, but starting them after it avoids noisy restarts.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service]),
        )
        self.web_url = pulumi.Output.concat("http://", master_host, f":{WEB_PORT}")
        self.register_outputs({"web_url": self.web_url, "workers": workers})


def _deployment_spec(labels: dict[str, str], replicas: int, container: dict[str, object],
                     volumes: list[dict[str, object]]) -> dict[str, object]:
    return {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "securityContext": restricted_security_context(LOCUST_USER_ID),
                "containers": [{
                    **container,
                    "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                    "securityContext": CONTAINER_SECURITY,
                }],
                "volumes": volumes,
            },
        },
    }
