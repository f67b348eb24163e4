"""The `rolloutlab` command line. Only the rolloutlab.cli package prints."""

from __future__ import annotations

import json

import click

from rolloutlab.cli.common import Group, say
from rolloutlab.paths import lab_home

@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rolloutlab")
def main() -> None:
    """Rehearse ML deployment strategies with real traffic and real numbers.

    \b
    Quick start (local target: processes on 127.0.0.1, no cluster needed):
      rolloutlab scenarios             list the shipped experiments, by strategy
      rolloutlab run canary-basic      bring the lab up, run the canary under load, print the verdict
      rolloutlab validate FILE...      check scenario files (file:line:field errors)
      rolloutlab runs / report RUN     past runs; rebuild a run's summary.md and report.html
      rolloutlab compare NAME          several strategies, same versions and seeded load: one comparison
      rolloutlab up / status / down    keep a lab running between experiments
      rolloutlab route show|set        inspect or change the traffic split of a running lab by hand
      rolloutlab load / stress slow    drive load shapes at the lab; find a version's breaking point
      rolloutlab models list|show      the immutable model versions, fault variants included
      rolloutlab cluster up            the same lab on Kubernetes (kind, minikube, existing) via Pulumi

    State, logs and run reports live under $ROLLOUTLAB_HOME (default: <project>/.rolloutlab).
    """


@main.command()
@click.option("--versions", default="v1,v2", show_default=True, help="Comma-separated versions; the first takes all traffic.")
@click.option("--router-port", type=click.IntRange(1, 65535), help="Fixed port for the router (default: a free one).")
@click.option("--ready-timeout", type=float, default=90.0, show_default=True)
@click.option("--drift-monitor", is_flag=True,
              help="Also start the drift monitor (feature, prediction and attribution drift per version, in Prometheus).")
def up(versions: str, router_port: int | None, ready_timeout: float, drift_monitor: bool) -> None:
    """Start the lab: a BentoML server per version, NGINX routing in front, Prometheus scraping each second."""
    from rolloutlab.targets.local import LocalTarget

    names = [v.strip() for v in versions.split(",") if v.strip()]
    endpoints = LocalTarget(lab_home()).up(names, router_port=router_port, ready_timeout=ready_timeout, progress=say,
                                           drift_monitor=drift_monitor)
    say(f"\nlab is up. router: {endpoints.router_url}  prometheus: {endpoints.prometheus_url}")
    say(f"try: curl -s {endpoints.router_url}/predict -H 'content-type: application/json' "
         "-d '{\"instances\": [[0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,"
         "0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0]]}'")


@main.command()
def down() -> None:
    """Stop exactly the processes the lab started (also after a crash of the CLI that started them)."""
    from rolloutlab.targets.local import LocalTarget

    stopped = LocalTarget(lab_home()).down(progress=say)
    say("lab stopped" if stopped else "the lab was not running")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Show the lab's processes, endpoints and current routing."""
    from rolloutlab.targets.local import LocalTarget

    info = LocalTarget(lab_home()).status()
    if as_json:
        say(json.dumps(info, indent=2))
        return
    if not info.get("up"):
        say("the lab is not running (start it with `rolloutlab up` or `rolloutlab run <scenario>`)")
        return
    endpoints = info["endpoints"]
    say(f"router:     {endpoints['router_url']}\nprometheus: {endpoints['prometheus_url']}")
    for name, proc in info["processes"].items():
        say(f"  {name:<12} pid {proc['pid']:<8} {'running' if proc['alive'] else 'DEAD':<8} {proc['log']}")
    if "routing" in info:
        weights = ", ".join(f"{v} {w}" for v, w in info["routing"]["weights"].items())
        say(f"routing (generation {info['routing']['generation']}): {weights}")


# Command groups live in their own modules and register once `main` exists.
from rolloutlab.cli.cluster import cluster  # noqa: E402
from rolloutlab.cli.compare import compare  # noqa: E402
from rolloutlab.cli.experiments import report, run, runs, scenarios, validate  # noqa: E402
from rolloutlab.cli.gates import gates  # noqa: E402
from rolloutlab.cli.load import load, stress  # noqa: E402
from rolloutlab.cli.models import models  # noqa: E402
from rolloutlab.cli.route import route  # noqa: E402
from rolloutlab.cli.simulate import simulate  # noqa: E402

for _command in (scenarios, validate, run, runs, report, compare, simulate, gates, models, route, load, stress, cluster):
    main.add_command(_command)

if __name__ == "__main__":
    main()
