"""The Rollout Lab Pulumi program: read the stack's config, build the cluster and the lab on it, export endpoints."""

from __future__ import annotations

import pulumi

from rolloutlab import zoo
from rolloutlab.errors import RolloutLabError
from rolloutlab.infra.cluster import Cluster
from rolloutlab.infra.config import holdout_file, load_config
from rolloutlab.infra.deployed_images import IMAGES_OUTPUT, image_guard
from rolloutlab.infra.gateway import chart_source
from rolloutlab.infra.lab import RolloutLab
from rolloutlab.infra.load_generator import locust_files, read_holdout
from rolloutlab.infra.load_image import LoadImage
from rolloutlab.k8s_names import K8sNames
from rolloutlab.paths import project_root

try:
    config = load_config()
    catalogue = zoo.load_catalogue()
    catalogue.require(list(config.versions))
    names = K8sNames(service=catalogue.service, namespace=config.namespace)
    chart = chart_source(config.envoy_gateway_chart, config.envoy_gateway_version, project_root())
    locustfiles = locust_files(project_root() / "loadtests") if config.load_workers else {}
    holdout = read_holdout(holdout_file(config)) if config.load_workers else ""
except RolloutLabError as exc:
    raise pulumi.RunError(str(exc)) from None  # one clear message instead of a traceback

version_images = {v: names.image(v, config.registry) for v in config.versions}
# Nothing is registered until every version's image matches what this stack deployed under its name.
checked = pulumi.ResourceOptions(depends_on=image_guard(version_images))
images = list(version_images.values())
load_image = LoadImage("load-image", opts=checked) if config.load_workers and not config.load_image else None
if load_image:
    images.append(load_image.image)
cluster = Cluster("cluster", config, images=images, image_builds=[load_image.build] if load_image else [], opts=checked)
lab = RolloutLab(
    "lab", config, names, locustfiles=locustfiles, holdout=holdout,
    load_image=load_image.image if load_image else "", envoy_gateway_chart=chart, images_ready=cluster.ready,
    opts=pulumi.ResourceOptions.merge(checked, pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})),
)

pulumi.export("cluster", {"kind": config.cluster, "name": config.cluster_name, "context": cluster.context})
pulumi.export("endpoints", lab.endpoints)
pulumi.export(IMAGES_OUTPUT, version_images)
