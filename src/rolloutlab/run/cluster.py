"""Run a scenario on a Kubernetes stack (kind, minikube, existing): the same engine and strategies as locally.

The parts: the stack's HTTPRoute (and, for blue-green, its stable Service) as the router
(RouteAndStableRouter), the stack's Prometheus and router through the port-forwards KubernetesTarget
opens, load from the in-cluster Locust master (or a local Locust through the router's port-forward).
At the end of every run — promoted, rolled back, aborted, crashed — the routing in force on the
cluster is read back and recorded in the stack's config (`rolloutlab:routing`), so a later
`pulumi up` renders the run's decision instead of reverting it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rolloutlab import zoo
from rolloutlab.engine import Engine, Hooks, Load
from rolloutlab.errors import ClusterError, NotReady, RolloutLabError
from rolloutlab.run.program import RunReport, drive, load_bound, smoke_spec
from rolloutlab.infra.routing_record import record_routing
from rolloutlab.journal import Journal
from rolloutlab.k8s_names import K8sNames
from rolloutlab.load.cluster_swarm import ClusterSwarm
from rolloutlab.load.locust_runner import LoadSpec, LoadStats, LocustRunner
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.prometheus import PrometheusSource
from rolloutlab.paths import new_run_dir, project_root
from rolloutlab.probes import CLIENT_FAILURES, RouterProbes
from rolloutlab.report.evidence import save_evidence
from rolloutlab.routers.factory import kubernetes_router
from rolloutlab.routers.route_and_stable import RouteAndStableRouter
from rolloutlab.scenario import BlueGreenScenario, ScenarioBase
from rolloutlab.targets.kubernetes import KubernetesTarget, PulumiStack, StackDriver

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
    outputs = (driver or PulumiStack(stack)).outputs()
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
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        return config.new_client_from_config(context=context or None)
    except (ConfigException, OSError) as exc:
        raise ClusterError(f"no usable kubeconfig for context {context or '(current)'}: {exc}") from None


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


def check(scenario: ScenarioBase, stack: str, driver: StackDriver | None = None) -> list[str]:
    """Everything a run needs short of the data plane: tools, stack, versions, kubeconfig, route and Service."""
    lab = find_lab(scenario, stack, driver)
    client = api_client(lab.context)
    route = kubernetes_router("gateway-api", lab.names, lab.deployed, client)
    stable = kubernetes_router("service-selector", lab.names, lab.deployed, client)
    return [
        f"stack {stack}: deploys {', '.join(lab.deployed)} in namespace {lab.names.namespace} "
        f"(kubeconfig context {lab.context or '(current)'})",
        f"HTTPRoute {lab.names.namespace}/{lab.names.httproute}: {route.current().describe()}",
        f"Service {lab.names.namespace}/{lab.names.stable_service}: {stable.current().describe()}",
        "load: " + ("the in-cluster Locust master" if lab.has_load_generator else
                    "no load generator in the stack (rolloutlab:loadWorkers is 0), so --load local"),
    ]


def run_with(scenario: ScenarioBase, run_dir: Path, lab: ClusterLab, work_dir: Path, router: RouteAndStableRouter,
             metrics: MetricsSource, *, load: Load | None, hooks: Hooks | None,
             load_stats: Callable[[], LoadStats | None] = lambda: None,
             described: Mapping[str, object] | None = None, progress: Progress = lambda _: None) -> RunReport:
    """Drive the scenario with these parts on the stack, then record the routing in force in its config.

    `run_dir` is new_run_dir(...)'s; `work_dir` is the stack's Pulumi project (its stack files are written there).
    """
    progress(f"run directory {run_dir}")
    journal = Journal(run_dir / "journal.jsonl")
    journal.write("target", kind="kubernetes", stack=lab.stack, context=lab.context, deployed=list(lab.deployed),
                  **dict(described or {}))
    record = record_back(lab, work_dir, router, journal, progress)

    def after(engine: Engine) -> None:
        stats = load_stats()
        if stats is not None:  # the in-cluster Locust's totals (a local run's are in its load/ CSV files)
            journal.write("load_stats", **stats.__dict__)
        record(engine)

    # The series a report plots come from a real Prometheus (the port-forwarded one), not from a stand-in.
    evidence = (lambda: save_evidence(run_dir, metrics, scenario.versions.all, None)) \
        if isinstance(metrics, PrometheusSource) else None
    return drive(scenario, run_dir, journal, router, metrics, load=load, hooks=hooks, after=after,
                 evidence=evidence, progress=progress)


def run_on_cluster(
    scenario: ScenarioBase,
    home: Path,
    stack: str,
    *,
    load_from: str | None = None,
    ready_timeout: float = 60.0,
    progress: Progress = lambda _: None,
    driver: StackDriver | None = None,
) -> RunReport:
    """Run the scenario on a deployed stack; port-forwards this run opened are stopped at its end."""
    if load_from is not None and load_from not in LOAD_SOURCES:
        raise ClusterError(f"unknown load source {load_from!r} (choose {' or '.join(LOAD_SOURCES)})")
    lab = find_lab(scenario, stack, driver)
    load_from = load_from or ("cluster" if lab.has_load_generator else "local")
    if load_from == "cluster" and not lab.has_load_generator:
        raise ClusterError(f"stack {stack} runs no load generator (rolloutlab:loadWorkers is 0); use --load local")
    holdout = zoo.holdout_path()
    if not holdout.is_file():
        raise ClusterError(f"no held-out rows at {holdout} (smoke tests and local load send them); "
                           "`rolloutlab models build v1` writes them")
    router = cluster_router(scenario, lab, api_client(lab.context))
    progress(f"HTTPRoute {lab.names.namespace}/{lab.names.httproute} serves {router.current().describe()}")
    target = KubernetesTarget(home, stack, driver)
    opened_here = not target.status().get("up")
    try:
        endpoints = target.connect(ready_timeout=ready_timeout, progress=progress)
    except NotReady as exc:
        raise ClusterError(f"the lab on stack {stack} cannot be reached through kubectl port-forward: {exc}\n"
                           f"(are its pods running? `kubectl -n {lab.names.namespace} get pods`)") from None
    try:
        run_dir = new_run_dir(home, scenario.name)
        metrics = PrometheusSource(endpoints.prometheus_url)
        load: ClusterSwarm | LocustRunner
        if load_from == "cluster":
            load = ClusterSwarm(target, scenario.load.users, float(scenario.load.users))
            progress(f"load: the in-cluster Locust master with {scenario.load.users} users; rate per user, seed and "
                     f"shape as deployed (rolloutlab:loadEnv of {lab.stack_file})")
        else:
            load = LocustRunner(LoadSpec.from_load(
                scenario.load, host=endpoints.router_url, holdout=holdout, keep_duration=False,
                max_seconds=load_bound(scenario), locustfile=project_root() / "loadtests" / "locustfile.py",
                labels={"run": run_dir.name}), run_dir / "load")
        hooks = RouterProbes(endpoints.router_url, holdout, smoke_spec(scenario), metrics, keep_running(lab),
                             failures_query=CLIENT_FAILURES)
        return run_with(scenario, run_dir, lab, project_root(), router, metrics, load=load, hooks=hooks,
                        load_stats=load.stats, progress=progress,
                        described={"router": endpoints.router_url, "prometheus": endpoints.prometheus_url,
                                   "load": load_from})
    finally:
        if opened_here:
            target.down(destroy=False, progress=progress)
