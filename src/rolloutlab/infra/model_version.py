"""ModelVersion: one immutable model version on the cluster — a Deployment of its image and a Service in front."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from rolloutlab.k8s_names import (
    LIVENESS_PATH, MODEL_PORT, MODEL_USER_ID, READINESS_PATH, K8sNames,
)

IMAGE_ANNOTATION = "rolloutlab.dev/image"


def restricted_security_context(user_id: int) -> dict[str, object]:
    """Pod security context meeting the `restricted` Pod Security Standard for a non-root image user."""
    return {
        "runAsNonRoot": True,
        "runAsUser": user_id,
        "runAsGroup": user_id,
        "fsGroup": user_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


class ModelVersion(pulumi.ComponentResource):
    """A Deployment running `<service>:<version>` (the image `rolloutlab models containerize` builds) and its Service.

    The version is part of every name and label, and the image tag is the version, so a version is
    never changed in place: a new behaviour is a new version beside it, and rollback only moves traffic.
    """

    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        version: str,
        names: K8sNames,
        namespace: pulumi.Input[str],
        registry: str = "",
        replicas: int = 1,
        image_pull_policy: str = "IfNotPresent",
        wait_for: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:model_version:ModelVersion", name, None, opts)
        object_name = names.version_service(version)
        labels = names.version_labels(version)
        image = names.image(version, registry)
        metadata = {"name": object_name, "namespace": namespace, "labels": labels}

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={**metadata, "annotations": {IMAGE_ANNOTATION: image}},
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {IMAGE_ANNOTATION: image}},
                    "spec": {
                        "securityContext": restricted_security_context(MODEL_USER_ID),
                        # Long enough for the preStop pause plus in-flight requests to finish.
                        "terminationGracePeriodSeconds": 30,
                        "containers": [{
                            "name": "model",
                            "image": image,
                            "imagePullPolicy": image_pull_policy,
                            "ports": [{"name": "http", "containerPort": MODEL_PORT, "protocol": "TCP"}],
                            "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}],
                            # `cold` versions are slow to become ready: the startup probe gives them
                            # two minutes before liveness may restart them; readiness gates traffic.
                            "startupProbe": _probe(LIVENESS_PATH, period=2, failures=60),
                            "livenessProbe": _probe(LIVENESS_PATH, period=10, failures=3),
                            "readinessProbe": _probe(READINESS_PATH, period=2, failures=2),
                            # Endpoints are removed asynchronously: keep serving a moment after the
                            # Pod is marked terminating so the gateway stops sending it requests first.
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                # A limit makes the `leaky` version's growth end in a visible OOM kill.
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": CONTAINER_SECURITY,
                        }],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(wait_for)),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata,
            spec={
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.concat(
            "http://", object_name, ".", namespace, ".svc.cluster.local:", str(MODEL_PORT)
        )
        self.register_outputs({"url": self.url, "image": image})


def _probe(path: str, period: int, failures: int) -> dict[str, object]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }
