"""A run on a Kubernetes stack with parts a caller brings, and `run --check` (everything short of the data plane).

`rolloutlab run --target kind|minikube|existing` runs through the one run program (run/program.py) over
KubernetesTarget; `run_with` drives the engine with a caller's router, metrics and hooks on the stack and
records the routing in force back into the stack's config, as KubernetesTarget.after_run does (the
control-plane testbed replays a real run's numbers through it: no pod serves there).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rolloutlab.engine import Hooks, Load
from rolloutlab.errors import ClusterError
from rolloutlab.journal import Journal
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.routers.factory import kubernetes_router
from rolloutlab.routers.route_and_stable import RouteAndStableRouter
from rolloutlab.run.program import RunReport, drive, held_out_rates, plan_strategy
from rolloutlab.run.routing_check import check_states, reachable_states
from rolloutlab.scenario import ScenarioBase
from rolloutlab.strategies.base import Strategy
from rolloutlab.targets.cluster_lab import ClusterLab, api_client, check_mirroring, find_lab, record_back
from rolloutlab.targets.kubernetes import StackDriver

Progress = Callable[[str], None]


def check(scenario: ScenarioBase, stack: str, driver: StackDriver | None = None,
          progress: Progress = lambda _: None) -> list[str]:
    """Everything a run needs short of the data plane: tools, stack, versions, kubeconfig, route and Service,
    mirroring support, and every routing state the strategy can produce (run/routing_check.py)."""
    lab = find_lab(scenario, stack, driver)
    client = api_client(lab.context)
    route = kubernetes_router("gateway-api", lab.names, lab.deployed, client)
    stable = kubernetes_router("service-selector", lab.names, lab.deployed, client)
    mirroring = check_mirroring(scenario, lab, client)
    strategy = plan_strategy(scenario, progress, build=False)  # A/B and bandits need the held-out rates
    states = reachable_states(scenario, strategy, held_out_rates(scenario))
    from kubernetes.client import CustomObjectsApi

    refused = check_states(states, lab.names, list(lab.deployed), CustomObjectsApi(client))
    if refused:
        raise ClusterError(f"{scenario.name}'s strategy can produce {len(refused)} of {len(states)} routing states "
                           f"that the HTTPRoute on stack {stack} cannot carry out, so the run would stop there:\n  "
                           + "\n  ".join(refused))
    return [
        f"stack {stack}: deploys {', '.join(lab.deployed)} in namespace {lab.names.namespace} "
        f"(kubeconfig context {lab.context or '(current)'})",
        f"HTTPRoute {lab.names.namespace}/{lab.names.httproute}: {route.current().describe()}",
        f"Service {lab.names.namespace}/{lab.names.stable_service}: {stable.current().describe()}",
        "load: " + ("the in-cluster Locust master" if lab.has_load_generator else
                    "no load generator in the stack (rolloutlab:loadWorkers is 0), so --load local"),
        *([mirroring] if mirroring else []),
        f"routing: every state {scenario.name}'s strategy can produce ({len(states)}, from simulated runs) "
        "renders as an HTTPRoute and passes the API server's dry run",
    ]


def run_with(scenario: ScenarioBase, run_dir: Path, lab: ClusterLab, work_dir: Path, router: RouteAndStableRouter,
             metrics: MetricsSource, *, load: Load | None, hooks: Hooks | None, strategy: Strategy | None = None,
             progress: Progress = lambda _: None) -> RunReport:
    """Drive the scenario with these parts on the stack, then record the routing in force in its config.

    `run_dir` is new_run_dir(...)'s; `work_dir` is the stack's Pulumi project (its stack files are written there).
    """
    progress(f"run directory {run_dir}")
    journal = Journal(run_dir / "journal.jsonl")
    journal.write("target", kind="kubernetes", stack=lab.stack, context=lab.context, deployed=list(lab.deployed))
    return drive(scenario, run_dir, journal, router, metrics, load=load, hooks=hooks, strategy=strategy,
                 run_label=run_dir.name, after=record_back(lab, work_dir, router, journal, progress), progress=progress)
