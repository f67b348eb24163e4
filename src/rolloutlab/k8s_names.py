"""Names, labels and ports shared by everything that touches the Kubernetes target.

The Pulumi components (infra/), the Gateway API and Service-selector routers (routers/) and the load
generator's Deployments all address the same objects; this module is the one place that names them.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_LABEL = "app.kubernetes.io/name"
VERSION_LABEL = "rolloutlab.dev/version"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "rolloutlab"

MODEL_PORT = 3000  # `bentoml serve` and the container image listen here
MODEL_USER_ID = 1034  # BentoML images run as the non-root user `bentoml` with this UID
LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class K8sNames:
    """Object names for one lab on one cluster."""

    service: str = "digits-classifier"  # the model service (BentoML service name)
    namespace: str = "rolloutlab"
    gateway: str = "rolloutlab-gateway"
    httproute: str = "model-route"
    stable_service: str = "model-stable"  # blue-green: the Service whose selector switches versions

    def version_service(self, version: str) -> str:
        """The Service (and Deployment) serving one version, e.g. digits-classifier-v2."""
        return f"{self.service}-{version}".lower()

    def version_labels(self, version: str) -> dict[str, str]:
        return {APP_LABEL: self.service, VERSION_LABEL: version, PART_OF_LABEL: PART_OF}

    def image(self, version: str, registry: str = "") -> str:
        """The OCI image reference `rolloutlab models containerize` produces for a version."""
        prefix = f"{registry.rstrip('/')}/" if registry else ""
        return f"{prefix}{self.service}:{version}"
