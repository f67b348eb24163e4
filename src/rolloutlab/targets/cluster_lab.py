"""A deployed stack as a run sees it: find it, route on it, and record the routing in force back into it.

The parts of a run on a Kubernetes stack that KubernetesTarget's run contract uses: the stack's
HTTPRoute (and, for blue-green, its stable Service) as the router (RouteAndStableRouter); blue kept
running after a blue-green (its Deployment is the stack's); and the run's last act, whatever the
outcome: the routing in force is read back from the cluster and recorded in the stack's config
(`rolloutlab:routing`), so a later `pulumi up` renders the run's decision instead of reverting it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutlab import zoo
from rolloutlab.errors import ClusterError, RolloutLabError
from rolloutlab.infra.routing_record import record_routing
from rolloutlab.journal import Journal
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.factory import kubernetes_router
from rolloutlab.routers.kube_api import kubeconfig_client
from rolloutlab.routers.route_and_stable import RouteAndStableRouter
from rolloutlab.scenario import BlueGreenScenario, ScenarioBase

if TYPE_CHECKING:
    from rolloutlab.engine import Engine
    from rolloutlab.targets.kubernetes import StackDriver

Progress = Callable[[str], None]
LOAD_SOURCES = ("cluster", "local")


@dataclass(frozen=True)
class ClusterLab:
    """A deployed stack as a run sees it: its names, its deployed versions, its kubeconfig context."""

    stack: str
    names: K8sNames
    deployed: tuple[str, ...]
    context: str
    has_load_generator: bool

    @property
    def stack_file(self) -> str:
        return f"stacks/Pulumi.{self.stack}.yaml"


def find_lab(scenario: ScenarioBase, stack: str, driver: StackDriver | None = None,
             which: Callable[[str], str | None] = shutil.which) -> ClusterLab:
    """Check the tools, that the stack is deployed, and that it deploys the scenario's versions."""
    for tool, why, where in (
            ("pulumi", "reads the stack's outputs and records the run's routing", "https://www.pulumi.com/docs/install/"),
            ("kubectl", "port-forwards the router, Prometheus and the load generator",
             "https://kubernetes.io/docs/tasks/tools/")):
        if which(tool) is None:
            raise ClusterError(f"a run on stack {stack} needs {tool} on PATH ({tool} {why}): install it ({where}), "
                               "or run on the local target (`--target local`)")
    outputs = (driver or _pulumi_stack(stack)).outputs()
    endpoints = outputs.get("endpoints") or {}
    if not endpoints:
        raise ClusterError(f"stack {stack} is not deployed (it has no outputs); deploy the lab first: "
                           f"`rolloutlab cluster up --stack {stack}` (or `pulumi up --stack {stack}`)")
    deployed = tuple((endpoints.get("versions") or {}).keys())
    missing = [v for v in scenario.versions.all if v not in deployed]
    if missing:
        raise ClusterError(
            f"stack {stack} deploys {', '.join(deployed) or 'no versions'}, but {scenario.name} needs "
            f"{', '.join(missing)}: add {'it' if len(missing) == 1 else 'them'} to rolloutlab:versions in "
            f"stacks/Pulumi.{stack}.yaml (images from `rolloutlab models containerize`) and `pulumi up --stack {stack}`")
    names = K8sNames(service=zoo.load_catalogue().service, namespace=endpoints.get("namespace") or K8sNames.namespace)
    context = (outputs.get("cluster") or {}).get("context") or ""
    return ClusterLab(stack, names, deployed, context, bool(endpoints.get("load")))


def api_client(context: str) -> Any:
    """A Kubernetes API client for the stack's kubeconfig context ('' = the current one)."""
    return kubeconfig_client(context, ClusterError)


def cluster_router(scenario: ScenarioBase, lab: ClusterLab, client: Any, *,
                   wait_accepted: bool = True) -> RouteAndStableRouter:
    """The HTTPRoute for every strategy; for blue-green the stable Service switches with it."""
    route = kubernetes_router("gateway-api", lab.names, lab.deployed, client, wait_accepted=wait_accepted)
    stable = kubernetes_router("service-selector", lab.names, lab.deployed, client) \
        if isinstance(scenario, BlueGreenScenario) else None
    return RouteAndStableRouter(route, lab.deployed, stable)


def keep_running(lab: ClusterLab) -> Callable[[str], str]:
    """Blue's retirement on a cluster: it keeps running, because its Deployment is the stack's to delete."""

    def retire(version: str) -> str:
        return (f"{version} left running with no traffic (weight 0; `x-model-version: {version}` still reaches it "
                f"for an instant rollback): its Deployment belongs to stack {lab.stack}. To stop it, remove it "
                f"from rolloutlab:versions in {lab.stack_file} and `pulumi up --stack {lab.stack}`")

    return retire


def record_back(lab: ClusterLab, work_dir: Path, router: RouteAndStableRouter, journal: Journal,
                progress: Progress) -> Callable[[Engine], None]:
    """The run's last act: record the routing in force (read back from the cluster) in the stack's config."""

    def after(_engine: Engine) -> None:
        try:
            route, stable = router.current(), router.stable_current()
            written = record_routing(lab.stack, work_dir, httproute=route, stable_service=stable)
        except RolloutLabError as exc:
            journal.write("error", message=f"the routing in force was not recorded in stack {lab.stack}: {exc}")
            progress(f"WARNING: the routing in force was NOT recorded in rolloutlab:routing of stack {lab.stack} "
                     f"({exc}); until it is, `pulumi up --refresh --stack {lab.stack}` would put the route back on "
                     "the last recorded state")
            return
        journal.write("routing_recorded", stack=lab.stack, routing=written)
        progress(f"recorded the routing in force ({route.describe()}) as rolloutlab:routing of stack {lab.stack}: "
                 "a later `pulumi up` keeps it")

    return after


def _pulumi_stack(stack: str) -> StackDriver:
    from rolloutlab.targets.kubernetes import PulumiStack

    return PulumiStack(stack)


MIRROR_FEATURE = "HTTPRouteRequestMirror"  # Gateway API's name for the RequestMirror filter (an extended feature)


def mirror_use(scenario: ScenarioBase) -> str | None:
    """What in the scenario copies requests to another version (None: nothing)."""
    from rolloutlab.scenario import ShadowScenario

    if isinstance(scenario, ShadowScenario):
        return "a shadow evaluation"
    if isinstance(scenario, BlueGreenScenario) and scenario.pre_switch_mirror:
        return f"pre_switch_mirror ({scenario.pre_switch_mirror}%)"
    return None


def gateway_class_features(objects: Any, names: K8sNames) -> tuple[str, list[str] | None]:
    """The lab's Gateway's GatewayClass and the features its status publishes (None: it publishes none).

    `objects` is a kubernetes.client.CustomObjectsApi; the class is read by routers/gateway_features.py."""
    from rolloutlab.routers.gateway_features import read_features
    from rolloutlab.routers.httproute import GATEWAY_GROUP
    from rolloutlab.routers.kube_api import call

    gateway = call(f"read Gateway {names.namespace}/{names.gateway}", lambda: objects.get_namespaced_custom_object(
        GATEWAY_GROUP, "v1", names.namespace, "gateways", names.gateway))
    class_name = str((gateway.get("spec") or {}).get("gatewayClassName", ""))
    features = read_features(objects, class_name)
    return class_name, sorted(features.supported) if features.reported else None


def check_mirroring(scenario: ScenarioBase, lab: ClusterLab, api: Any) -> str | None:
    """Refuse, before anything starts, a scenario that mirrors on a GatewayClass that says it cannot
    (never a route that answers 500); returns what was found, None when the scenario does not mirror."""
    use = mirror_use(scenario)
    if use is None:
        return None
    from kubernetes import client

    class_name, features = gateway_class_features(client.CustomObjectsApi(api), lab.names)
    if features is None:
        return (f"GatewayClass {class_name} publishes no supportedFeatures: {use} needs {MIRROR_FEATURE}, "
                "which it may not implement (then the route's mirror is ignored or refused)")
    if MIRROR_FEATURE not in features:
        raise ClusterError(f"{scenario.name} needs {use}, but GatewayClass {class_name} (Gateway "
                           f"{lab.names.namespace}/{lab.names.gateway}) does not support {MIRROR_FEATURE} (its "
                           f"status.supportedFeatures: {', '.join(features) or 'none'}); run it on the local target, "
                           "or on a stack whose gateway supports request mirroring")
    return f"GatewayClass {class_name} supports {MIRROR_FEATURE} ({use})"
