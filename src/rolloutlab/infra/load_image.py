"""LoadImage: the load generator's container image — stock Locust plus the one library the locustfile adds.

The locustfile runs unchanged in the official `locustio/locust` image except for its client-side
metrics exporter, which needs prometheus_client. Rather than install it at pod start (network at start,
a different environment per pod) the stack builds a two-line image on the local Docker engine, at the
Locust and prometheus_client releases locked in uv.lock, and loads it into kind/minikube like the
model images. Its tag is derived from those pins, so the same tag is always the same content.
"""

from __future__ import annotations

from importlib.metadata import version as installed_version

import pulumi
import pulumi_command as command

LOAD_IMAGE_REPOSITORY = "rolloutlab-load"

DOCKERFILE = """\
ARG LOCUST_VERSION
FROM locustio/locust:${LOCUST_VERSION}
ARG PROMETHEUS_CLIENT_VERSION
RUN pip install --no-cache-dir "prometheus-client==${PROMETHEUS_CLIENT_VERSION}"
"""


def pins() -> dict[str, str]:
    """The releases the image is built at: those of this environment, i.e. of uv.lock."""
    return {"LOCUST_VERSION": installed_version("locust"),
            "PROMETHEUS_CLIENT_VERSION": installed_version("prometheus-client")}


def load_image_tag() -> str:
    """`rolloutlab-load:locust<version>-pc<version>`: the content is fixed by the tag."""
    p = pins()
    return f"{LOAD_IMAGE_REPOSITORY}:locust{p['LOCUST_VERSION']}-pc{p['PROMETHEUS_CLIENT_VERSION']}"


def build_command() -> str:
    """Shell command (with $IMAGE and the pins set) building the image from the Dockerfile on stdin, no context."""
    args = " ".join(f'--build-arg {name}="${name}"' for name in pins())
    return f'docker image inspect "$IMAGE" >/dev/null 2>&1 || docker build --tag "$IMAGE" {args} -'


class LoadImage(pulumi.ComponentResource):
    """Builds the load image on the local Docker engine unless it is already there."""

    image: str
    build: command.local.Command

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rolloutlab:load_image:LoadImage", name, None, opts)
        self.image = load_image_tag()
        self.build = command.local.Command(
            f"{name}-build",
            create=build_command(),
            stdin=DOCKERFILE,
            environment={"IMAGE": self.image, **pins()},
            triggers=[self.image, DOCKERFILE],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"image": self.image})
