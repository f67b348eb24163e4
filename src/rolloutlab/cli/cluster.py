"""`rolloutlab cluster ...`: the lab on Kubernetes (kind, minikube or an existing cluster) through its Pulumi stack."""

from __future__ import annotations

import json
import time

import click

from rolloutlab.cli.common import Group, say
from rolloutlab.paths import lab_home

STACK_OPTION = click.option(
    "--stack", type=click.Choice(["kind", "minikube", "existing"]), default="kind", show_default=True,
    help="The Pulumi stack (stacks/Pulumi.<stack>.yaml) and so the kind of cluster.",
)


@click.group(cls=Group)
def cluster() -> None:
    """The lab on Kubernetes: model versions, Envoy Gateway, Prometheus and Locust, deployed with Pulumi.

    Needs the pulumi CLI and kubectl, plus kind or minikube for those stacks, and the versions' images
    (`rolloutlab models containerize VERSION`). Router and Prometheus are forwarded to 127.0.0.1.

    \b
    Examples:
      rolloutlab cluster up                          kind cluster `rolloutlab`, versions v1 and v2
      rolloutlab cluster up --versions v1,slow --stack minikube
      rolloutlab cluster status
      rolloutlab cluster load --seconds 60           in-cluster Locust master + workers
      rolloutlab cluster down                        pulumi destroy (deletes the kind cluster too)
    """


@cluster.command()
@STACK_OPTION
@click.option("--versions", default="v1,v2", show_default=True, help="Comma-separated; the first takes all traffic.")
@click.option("--ready-timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the port-forwards to answer after `pulumi up`.")
def up(stack: str, versions: str, ready_timeout: float) -> None:
    """`pulumi up` the stack with VERSIONS, then forward the router and Prometheus to free 127.0.0.1 ports."""
    from rolloutlab.targets.kubernetes import KubernetesTarget

    names = [v.strip() for v in versions.split(",") if v.strip()]
    endpoints = KubernetesTarget(lab_home(), stack).up(names, ready_timeout=ready_timeout, progress=say)
    say(f"\nlab is up on {stack}. router: {endpoints.router_url}  prometheus: {endpoints.prometheus_url}")
    say(f"try: curl -s {endpoints.router_url}/predict -H 'content-type: application/json' "
        "-d '{\"instances\": [[" + ",".join(["0"] * 64) + "]]}'")


@cluster.command()
@STACK_OPTION
@click.option("--ready-timeout", type=float, default=60.0, show_default=True)
def connect(stack: str, ready_timeout: float) -> None:
    """Reopen the port-forwards of a deployed stack (after a reboot, or when a forward died)."""
    from rolloutlab.targets.kubernetes import KubernetesTarget

    endpoints = KubernetesTarget(lab_home(), stack).connect(ready_timeout=ready_timeout, progress=say)
    say(f"router: {endpoints.router_url}  prometheus: {endpoints.prometheus_url}")


@cluster.command()
@STACK_OPTION
@click.option("--keep-stack", is_flag=True, help="Only stop the port-forwards; leave the stack deployed.")
def down(stack: str, keep_stack: bool) -> None:
    """Stop the port-forwards and `pulumi destroy` the stack (a kind/minikube cluster it created goes too)."""
    from rolloutlab.targets.kubernetes import KubernetesTarget

    stopped = KubernetesTarget(lab_home(), stack).down(destroy=not keep_stack, progress=say)
    say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@cluster.command()
@STACK_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(stack: str, as_json: bool) -> None:
    """Show the stack's endpoints and whether its port-forwards run."""
    from rolloutlab.targets.kubernetes import KubernetesTarget

    info = KubernetesTarget(lab_home(), stack).status()
    if as_json:
        say(json.dumps(info, indent=2))
        return
    if "forwards" not in info:
        say(f"the lab is not up on stack {stack} (start it with `rolloutlab cluster up --stack {stack}`)")
        return
    for name, forward in info["forwards"].items():
        say(f"  {name:<20} pid {forward['pid']:<8} {'running' if forward['alive'] else 'DEAD':<8} {forward['log']}")
    if "endpoints" in info:
        say(f"router:     {info['endpoints']['router_url']}\nprometheus: {info['endpoints']['prometheus_url']}")


@cluster.command()
@STACK_OPTION
@click.option("--seconds", type=click.IntRange(1, 86_400), default=60, show_default=True)
@click.option("--users", type=click.IntRange(1, 1000), default=10, show_default=True, help="Locust users.")
@click.option("--rate-per-user", type=click.FloatRange(0, 100, min_open=True), default=5.0, show_default=True,
              help="Requests per second each user aims for.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the traffic plan.")
def load(stack: str, seconds: int, users: int, rate_per_user: float, seed: int) -> None:
    """Run the in-cluster Locust master and workers for SECONDS, printing throughput every 5 s.

    The master stops the load by itself after SECONDS (plus a grace), or 30 s after this command
    stops sending its heartbeat (killed, or its port-forward gone).
    """
    from rolloutlab.load.cluster_swarm import ClusterSwarm
    from rolloutlab.scenario.load import SteadyLoad
    from rolloutlab.targets.kubernetes import KubernetesTarget

    target = KubernetesTarget(lab_home(), stack)
    # After a plain `pulumi up` nothing is forwarded yet: open the forwards here, and close them after.
    opened_here = not target.status().get("up")
    if opened_here:
        target.connect(progress=say)
    try:
        swarm = ClusterSwarm(target, SteadyLoad(users=users, rate_per_user=rate_per_user, seed=seed),
                             max_seconds=seconds + 30)
        swarm.start()
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                time.sleep(min(5.0, seconds - elapsed))
                swarm.heartbeat()
                stats = target.load_stats()
                say(f"[{time.monotonic() - started:4.0f}s] {stats.get('user_count', 0)} users, "
                    f"{stats.get('total_rps', 0):.1f} req/s, failures {100 * stats.get('fail_ratio', 0):.2f}%")
        finally:
            swarm.stop()
        say("load stopped")
    finally:
        if opened_here:
            target.down(destroy=False, progress=say)
