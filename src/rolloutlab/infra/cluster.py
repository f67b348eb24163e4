"""Cluster: the Kubernetes cluster a stack deploys to — a kind or minikube cluster it creates, or an existing context.

kind and minikube clusters are created and deleted with their own CLIs through pulumi-command's
local.Command (they have no Pulumi provider); the stack's Kubernetes provider is configured from the
kubeconfig those commands print, so nothing touches the cluster before it exists. The model images
built locally (`rolloutlab models containerize`) are copied into the cluster's nodes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import yaml

from rolloutlab.infra.config import StackConfig


# kind's release notes ask for node images by digest (a tag is rebuilt for each kind release, and an
# image from another kind release may not work). These are the images kind v0.29.0 lists for its release.
KIND_NODE_IMAGES = {
    "v1.33.1": "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
}
KIND_DEFAULT_VERSION = "v1.33.1"  # kind v0.29.0's default node


def kind_node_image(version: str) -> str:
    """The node image for a Kubernetes version tag, pinned by digest where the lab knows it.

    "" gives kind v0.29.0's default, pinned; a reference with its own digest is kept as given; a tag
    the lab has no digest for is passed on as a tag (kind then resolves it, as before).
    """
    version = version or KIND_DEFAULT_VERSION
    if "@sha256:" in version:
        return version if version.startswith("kindest/node:") else f"kindest/node:{version}"
    return KIND_NODE_IMAGES.get(version, f"kindest/node:{version}")


def kind_cluster_config(config: StackConfig) -> str:
    """The kind cluster config: one node (a lab, not a production cluster) on a node image pinned by digest."""
    node: dict[str, object] = {"role": "control-plane", "image": kind_node_image(config.kubernetes_version)}
    return yaml.safe_dump({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": [node]}, sort_keys=False)


def cluster_commands(config: StackConfig) -> dict[str, str]:
    """Shell commands (run with $CLUSTER set) that create, delete and print the kubeconfig of the cluster."""
    if config.cluster == "kind":
        return {
            # Adopts a kind cluster of the same name instead of failing on it.
            "create": 'kind get clusters 2>/dev/null | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config=- --wait 180s',
            "delete": 'kind delete cluster --name "$CLUSTER"',
            "kubeconfig": 'kind get kubeconfig --name "$CLUSTER"',
        }
    if config.cluster == "minikube":
        version = f' --kubernetes-version="{config.kubernetes_version}"' if config.kubernetes_version else ""
        return {
            "create": f'minikube start --profile "$CLUSTER"{version} --wait=all',
            "delete": 'minikube delete --profile "$CLUSTER"',
            "kubeconfig": 'kubectl config view --raw --minify --flatten --context "$CLUSTER"',
        }
    raise ValueError(f"{config.cluster} clusters are not created by the stack")


def image_load_command(config: StackConfig) -> str:
    """Shell command (with $CLUSTER and $IMAGE set) copying a local image into the cluster's nodes."""
    missing = ('docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "image $IMAGE is not in the local '
               'Docker engine: build it with rolloutlab models containerize" >&2; exit 1; }')
    if config.cluster == "kind":
        # Not `kind load docker-image`: it fails with Docker's containerd image store
        # (kubernetes-sigs/kind#3795). A `docker save` archive loads with either store.
        return (f'{missing}; archive="$(mktemp "${{TMPDIR:-/tmp}}/rolloutlab-image.XXXXXX")" || exit 1; '
                'trap \'rm -f "$archive"\' EXIT; docker save -o "$archive" "$IMAGE" && '
                'kind load image-archive "$archive" --name "$CLUSTER"')
    return f'{missing}; minikube image load "$IMAGE" --profile "$CLUSTER"'


class Cluster(pulumi.ComponentResource):
    """The stack's cluster and a Kubernetes provider for it; `ready` lists what must exist before pods start."""

    provider: k8s.Provider
    context: str
    ready: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        config: StackConfig,
        images: Sequence[str] = (),
        image_builds: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rolloutlab:cluster:Cluster", name, None, opts)
        self.context = config.kube_context_name
        self.ready = []
        if config.cluster == "existing":
            # Only the context: the provider reads the user's kubeconfig ($KUBECONFIG or ~/.kube/config).
            self.provider = k8s.Provider(
                f"{name}-provider", context=config.kube_context or None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.register_outputs({"context": self.context})
            return

        commands = cluster_commands(config)
        environment = {"CLUSTER": config.cluster_name}
        cluster = command.local.Command(
            f"{name}-{config.cluster}",
            create=commands["create"],
            delete=commands["delete"],
            environment=environment,
            stdin=kind_cluster_config(config) if config.cluster == "kind" else None,
            # A different cluster name or Kubernetes version is a different cluster: replace, never mutate.
            triggers=[config.cluster_name, config.kubernetes_version],
            opts=pulumi.ResourceOptions(parent=self),
        )
        kubeconfig = command.local.Command(
            f"{name}-kubeconfig",
            create=commands["kubeconfig"],
            environment=environment,
            triggers=[cluster.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster], additional_secret_outputs=["stdout"]),
        )
        self.provider = k8s.Provider(
            f"{name}-provider", kubeconfig=kubeconfig.stdout, opts=pulumi.ResourceOptions(parent=self)
        )
        self.ready.append(cluster)
        if config.load_images:
            for image in images:
                self.ready.append(command.local.Command(
                    f"{name}-load-{image.rsplit('/', 1)[-1].replace(':', '-')}",
                    create=image_load_command(config),
                    environment={**environment, "IMAGE": image},
                    # The tag names immutable content, so a tag loaded once needs loading again only into
                    # a new cluster.
                    triggers=[image, cluster.id],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *image_builds]),
                ))
        self.register_outputs({"context": self.context})
