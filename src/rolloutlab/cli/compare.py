"""`rolloutlab compare`: several strategies on the same versions under the same seeded load, one comparison."""

from __future__ import annotations

import signal
import sys

import click

from rolloutlab.cli.common import say
from rolloutlab.errors import ScenarioError
from rolloutlab.paths import lab_home

EXIT_INVALID = 2


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a field of every scenario, e.g. --set load.users=25.")
@click.option("--time-scale", type=click.FloatRange(min=0.01, max=100), default=1.0, show_default=True,
              help="Multiply every interval and window of every scenario.")
@click.option("--bad", multiple=True, metavar="VERSION",
              help="With scenario names: a version known to be bad (its blast radius is counted).")
@click.option("--slo-ms", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True,
              help="With scenario names: a user request slower than this violates the SLO.")
@click.option("--ready-timeout", type=float, default=90.0, show_default=True,
              help="Seconds to wait for the lab to become ready.")
def compare(names: tuple[str, ...], overrides: tuple[str, ...], time_scale: float, bad: tuple[str, ...],
            slo_ms: float, ready_timeout: float) -> None:
    """Compare strategies: NAMES is one comparison (experiments/comparisons/, or a YAML file) or 2+ scenarios.

    Every scenario runs against the same versions under the same seeded load, one after another on one lab
    (brought up once with every version they need, stopped at the end unless it was already up). The
    comparison gives each strategy's decision, time to decision, blast radius (requests and distinct users
    the bad version served, SLO-violating requests), regret and duration, as comparison.md,
    comparison.html and figures/*.png in <home>/comparisons/<stamp>-<name>/, beside every run's own report.

    \b
    Examples:
      rolloutlab compare compare-bad-release
      rolloutlab compare compare-model-choice --time-scale 0.5
      rolloutlab compare canary-slow bluegreen-bad-release --bad slow --slo-ms 40
    """
    from rolloutlab.cli.live import progress_view
    from rolloutlab.comparison import adhoc_comparison, describe, load_comparison, resolve_comparison, run_comparison
    from rolloutlab.run.program import run_scenario
    from rolloutlab.targets.local import LocalTarget

    try:
        path = resolve_comparison(names[0]) if len(names) == 1 else None
        if path is not None:
            comparison, scenarios = load_comparison(path, list(overrides), time_scale)
        elif len(names) >= 2:
            comparison, scenarios = adhoc_comparison(list(names), list(overrides), time_scale, list(bad), slo_ms)
        else:
            raise ScenarioError(f"{names[0]!r} is no comparison (experiments/comparisons/*.yaml or a YAML file with "
                                "`scenarios:`); to compare scenarios, name two or more")
    except ScenarioError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"comparison {comparison.name}: {describe(comparison, scenarios)}")

    def run_one(scenario, index: int):  # type: ignore[no-untyped-def]
        with progress_view(f"{comparison.name} {index + 1}/{len(scenarios)}: {scenario.name}") as (progress, on_event):
            target = LocalTarget(lab_home(), ready_timeout=ready_timeout)
            report = run_scenario(scenario, target, lab_home(), progress=progress, on_event=on_event)
        say(f"{scenario.name}: {report.outcome.outcome.upper()} — {report.outcome.reason}")
        return report

    try:
        folder = run_comparison(comparison, scenarios, lab_home(), ready_timeout=ready_timeout, progress=say,
                                run_one=run_one)
    except KeyboardInterrupt:
        click.secho("interrupted: the lab was stopped; `rolloutlab report` rebuilds what ran", fg="yellow", err=True)
        sys.exit(130)
    say("")
    say((folder / "comparison.md").read_text(encoding="utf-8"))
    say(f"comparison: {folder / 'comparison.html'}")
