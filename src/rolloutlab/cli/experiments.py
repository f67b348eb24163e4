"""`rolloutlab scenarios | validate | run | runs | report`: the experiments and their results."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from rolloutlab.cli.common import EXIT_INTERRUPTED, EXIT_ROLLBACK_FAILED, EXIT_ROLLED_BACK, say
from rolloutlab import interrupts
from rolloutlab.errors import RolloutLabError, ScenarioError
from rolloutlab.paths import lab_home

EXIT_INVALID = 2
# What `run` exits with, per outcome: usable as a gate in scripts.
EXIT_CODES = {"promoted": 0, "winner": 0, "no winner": 0, "rolled back": EXIT_ROLLED_BACK,
              "rejected": EXIT_ROLLED_BACK, "aborted": 1}


@click.command()
def scenarios() -> None:
    """List the shipped scenarios (experiments/*.yaml), grouped by strategy, with what each should show."""
    from rolloutlab.scenario import list_scenarios, load_scenario

    groups: dict[str, list[tuple[str, str, str, str]]] = {}
    for path in list_scenarios():
        try:
            s = load_scenario(str(path))
            groups.setdefault(s.strategy, []).append(  # type: ignore[attr-defined]
                (s.name, f"{s.versions.baseline} → {s.candidate}", s.expect or "–", s.description))
        except RolloutLabError as exc:
            groups.setdefault("INVALID", []).append((path.stem, "", "", str(exc).splitlines()[0]))
    rows = [row for group in groups.values() for row in group]
    widths = [max(len(row[i]) for row in rows + [("NAME", "VERSIONS", "EXPECT", "")]) for i in range(3)]
    for strategy, group in groups.items():
        say(click.style(f"{strategy}:", bold=True))
        for row in group:
            say("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    _list_comparisons()


def _list_comparisons() -> None:
    """The shipped comparisons (experiments/comparisons/), apart from the one-strategy scenarios."""
    from rolloutlab.comparison import list_comparisons, load_comparison

    found = list_comparisons()
    if found:
        say(click.style("comparisons (rolloutlab compare NAME):", bold=True))
    for path in found:
        try:
            comparison, _ = load_comparison(path)
            say(f"  {comparison.name}  {' vs '.join(comparison.scenarios)}  {comparison.description}")
        except RolloutLabError as exc:
            say(f"  {path.stem}  INVALID  {str(exc).splitlines()[0]}")


@click.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check scenario or comparison FILES (paths or shipped names) without running anything.

    Every problem is listed with file:line and the field's path; exit status 2 if any file is invalid.
    A comparison is checked with every scenario it names: same versions, same load.
    """
    from rolloutlab.comparison import describe, load_comparison, resolve_comparison
    from rolloutlab.scenario import load_scenario

    bad = 0
    for name in files:
        try:
            comparison_file = resolve_comparison(name)
            if comparison_file is not None:
                comparison, members = load_comparison(comparison_file)
                say(f"ok  {name}: comparison: {describe(comparison, members)}")
                continue
            s = load_scenario(name)
        except ScenarioError as exc:
            bad += 1
            click.secho(str(exc), fg="red", err=True)
            continue
        say(f"ok  {name}: {s.describe()}")
    if bad:
        sys.exit(EXIT_INVALID)


TARGETS = ("local", "kind", "minikube", "existing")


@click.command()
@click.argument("scenario")
@click.option("--target", type=click.Choice(TARGETS), default="local", show_default=True,
              help="Where to run: the local lab (processes on 127.0.0.1), or the deployed Kubernetes stack of that "
                   "name (stacks/Pulumi.<target>.yaml; deploy it first with `rolloutlab cluster up --stack ...`).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, e.g. --set analysis.interval=5s --set load.users=20.")
@click.option("--time-scale", type=click.FloatRange(min=0.01, max=100), default=1.0, show_default=True,
              help="Multiply every interval and window (0.5 = twice as fast); minimum samples still hold.")
@click.option("--keep-up", is_flag=True, help="Local target: leave the lab running afterwards (when this run started it).")
@click.option("--router-port", type=click.IntRange(1, 65535),
              help="Local target: fixed port for the router (default: a free one).")
@click.option("--ready-timeout", type=float, default=90.0, show_default=True,
              help="Seconds to wait for the lab (local: servers, NGINX, Prometheus; cluster: the port-forwards).")
@click.option("--load", "load_from", type=click.Choice(["cluster", "local"]),
              help="Cluster targets: load from the stack's Locust master (default when the stack has one) or from "
                   "a local Locust through the router's port-forward.")
@click.option("--check", is_flag=True,
              help="Cluster targets: check tools, stack, versions, HTTPRoute and stable Service, then stop (no run).")
def run(scenario: str, target: str, overrides: tuple[str, ...], time_scale: float, keep_up: bool,
        router_port: int | None, ready_timeout: float, load_from: str | None, check: bool) -> None:
    """Run SCENARIO (a name from `rolloutlab scenarios`, or a YAML path) on the local lab or a cluster.

    Sends Locust load through the router and lets the scenario's strategy (canary, blue-green) move
    traffic; every window is judged by the scenario's checks (errors, latency, online accuracy, memory)
    from Prometheus. Ctrl-C (or kill) routes all traffic back to the baseline.

    \b
    --target local (default): starts the lab if it is not up, and stops it afterwards.
    --target kind|minikube|existing: the same engine on the deployed stack. Traffic moves on its HTTPRoute
      (weights, the blue-green preview header, the switch); blue-green also switches the model-stable
      Service. Router and Prometheus are reached by kubectl port-forwards; needs pulumi and kubectl.
      At the end, whatever the outcome, the routing in force is recorded in rolloutlab:routing of
      stacks/Pulumi.<target>.yaml, so a later `pulumi up` keeps the decision instead of reverting it.
      Blue (after a blue-green) keeps running at weight 0: its Deployment is the stack's to remove.
    \b
    Exit status: 0 promoted, 3 rolled back or rejected, 130 interrupted, 1 error, 2 invalid scenario.
    Writes <run dir>/journal.jsonl (every routing change, check and decision), summary.md, report.html
    (self-contained: open it anywhere) and figures/*.png (16:9, for slides). On a terminal a live view
    shows the phase, weights and each version's traffic; piped or in CI, plain lines.
    \b
    Examples:
      rolloutlab run canary-basic
      rolloutlab run bluegreen-basic --time-scale 0.5
      rolloutlab run canary-basic --set analysis.interval=30s --set load.users=20
      rolloutlab run canary-basic --target existing --check      is the stack ready for a run?
      rolloutlab run canary-basic --target kind --load local
    """
    from rolloutlab.cli.live import progress_view
    from rolloutlab.scenario import load_scenario

    on_cluster = target != "local"
    misplaced = [flag for flag, given, local_only in (
        ("--keep-up", keep_up, True), ("--router-port", router_port is not None, True),
        ("--load", load_from is not None, False), ("--check", check, False)) if given and local_only == on_cluster]
    if misplaced:
        where = "the local target" if on_cluster else "cluster targets (--target kind|minikube|existing)"
        raise click.UsageError(f"{', '.join(misplaced)}: for {where} only; this run's target is {target}")
    try:
        spec = load_scenario(scenario, list(overrides))
        if time_scale != 1.0:
            spec = spec.scaled(time_scale)
    except ScenarioError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    except ValueError as exc:  # a scaled window that no longer validates
        click.secho(f"error: --time-scale {time_scale:g}: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    if check:
        from rolloutlab.run.cluster import check as check_cluster

        for line in check_cluster(spec, target):
            say(line)
        say(f"ready: `rolloutlab run {scenario} --target {target}` can run here")
        return
    # Ctrl-C and a plain `kill` put traffic back on the baseline (and stop a lab this run started).
    interrupts.install()
    say(f"scenario {spec.name}: {spec.describe()}" + (f" (on stack {target})" if on_cluster else ""))
    started = time.monotonic()
    try:
        with progress_view(f"{spec.name}: {spec.describe()}") as (progress, on_event):
            from rolloutlab.run.program import run_scenario
            from rolloutlab.targets.factory import target_for

            where = target_for(target, lab_home(), keep_up=keep_up, router_port=router_port,
                               ready_timeout=ready_timeout, load_from=load_from)
            report = run_scenario(spec, where, lab_home(), progress=progress, on_event=on_event)
    except KeyboardInterrupt:
        click.secho("interrupted" + (": the lab was stopped" if not on_cluster else ""), fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    outcome = report.outcome
    colour = {"promoted": "green", "winner": "green", "rolled back": "yellow", "rejected": "yellow"}
    click.secho(f"\nverdict: {outcome.outcome.upper()} — {outcome.reason} "
                f"({outcome.analyses} analyses, {time.monotonic() - started:.0f}s)",
                fg=colour.get(outcome.outcome, "red"), bold=True)
    if spec.expect:
        matched = "as this scenario expects" if outcome.outcome == spec.expect else f"this scenario expects {spec.expect}"
        say(f"({matched})")
    say(f"report:  {report.summary}")
    say(f"html:    {report.html}")
    say(f"journal: {report.journal}")
    if outcome.rollback_failed:
        click.secho(f"ROLLBACK FAILED: {outcome.reason}", fg="red", bold=True, err=True)
        sys.exit(EXIT_ROLLBACK_FAILED)
    if outcome.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_CODES.get(outcome.outcome, 1))


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Newest runs to show.")
def runs(limit: int) -> None:
    """List past runs (newest first): scenario, strategy, outcome, duration, run directory."""
    from rolloutlab.report.runs import list_runs

    found = list_runs(lab_home() / "runs")[:limit]
    if not found:
        say(f"no runs yet under {lab_home() / 'runs'} (start one with `rolloutlab run canary-basic`)")
        return
    rows = [("STARTED", "SCENARIO", "STRATEGY", "OUTCOME", "DURATION", "RUN DIRECTORY")]
    rows += [(r.started, r.scenario, r.strategy, r.outcome, r.duration, str(r.path)) for r in found]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Rebuild RUN_DIR's summary.md, report.html and figures from the run directory alone, and print the summary.

    Works after the lab is gone; a run directory from a comparison (`rolloutlab compare`) rebuilds the
    comparison. Unreadable journal lines and missing files are named, and the rest is still reported.
    """
    from rolloutlab.report.build import build_report
    from rolloutlab.report.comparison import COMPARISON_FILE, build_comparison

    if (run_dir / COMPARISON_FILE).is_file():
        files = build_comparison(run_dir)
        say(files.markdown.read_text(encoding="utf-8"))
        say(f"html: {files.html}")
        return
    built = build_report(run_dir)
    say(built.summary.read_text(encoding="utf-8"))
    for problem in built.problems:
        click.secho(f"warning: {problem}", fg="yellow", err=True)
    say(f"html: {built.html}")
