"""`rolloutlab simulate`: run a scenario's strategy thousands of times against a simulated world."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from rolloutlab.cli.common import say
from rolloutlab.errors import ScenarioError

EXIT_INVALID = 2


def _rates(pairs: tuple[str, ...]) -> dict[str, float]:
    rates = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not name or not 0 < rate < 1:
            raise ScenarioError(f"--rate {pair!r}: expected VERSION=RATE with 0 < RATE < 1, e.g. --rate v2=0.969")
        rates[name] = rate
    return rates


@click.command()
@click.argument("scenario")
@click.option("--runs", type=click.IntRange(1, 10_000_000), default=1000, show_default=True, help="Simulated runs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same runs, same figures.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field as for `run`, e.g. --set experiment.mde=0.02 --set analysis.interval=5s.")
@click.option("--time-scale", type=click.FloatRange(min=0.01, max=100), default=1.0, show_default=True,
              help="Multiply every interval and window, as for `run`.")
@click.option("--rate", "rates", multiple=True, metavar="VERSION=RATE",
              help="A version's true reward rate instead of its held-out accuracy, e.g. --rate v2=0.969.")
@click.option("--user-correlation", type=click.FloatRange(0, 0.99), default=0.0, show_default=True,
              help="Intra-user correlation of rewards (0: every request's row drawn independently, as live).")
@click.option("--window-noise", type=click.FloatRange(0, 10), default=1.0, show_default=True,
              help="Scale the window-to-window latency noise fitted to live runs (0: none, a perfectly quiet machine).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a PNG of the decision-time distribution (and, for bandits, the regret curves).")
def simulate(scenario: str, runs: int, seed: int, overrides: tuple[str, ...], time_scale: float, rates: tuple[str, ...],
             user_correlation: float, window_noise: float, plot_path: Path | None) -> None:
    """Run SCENARIO's strategy RUNS times against a simulated world, in seconds, with no servers.

    The same strategy code and the same analysis checks as `run`, fed windows the simulated world
    produces (counts, latency histograms, delayed labels, sticky users) instead of Prometheus. Prints how
    often each outcome happens (95 % intervals), time to decision, exposure to a bad version, A/B effect
    estimates and bandit regret.

    \b
    Examples:
      rolloutlab simulate ab-aa --runs 2000                      how often does an A/A test find a winner?
      rolloutlab simulate canary-basic --set analysis.interval=30s
      rolloutlab simulate ab-accuracy --rate v2=0.969 --runs 5000  power at exactly one MDE
      rolloutlab simulate bandit-thompson --runs 300 --plot regret.png
    """
    from dataclasses import replace

    from rolloutlab.scenario import load_scenario
    from rolloutlab.sim.report import lines
    from rolloutlab.sim.runner import simulate_runs
    from rolloutlab.sim.summary import summarise
    from rolloutlab.sim.world import Noise, world_for
    from rolloutlab.strategies.factory import check_feasible, strategy_for

    try:
        spec = load_scenario(scenario, list(overrides))
        if time_scale != 1.0:
            spec = spec.scaled(time_scale)
        base = Noise()
        noise = replace(base, shared_window_sigma=base.shared_window_sigma * window_noise,
                        own_window_sigma=base.own_window_sigma * window_noise)
        world = world_for(spec, _rates(rates), user_correlation, noise)
        plan = check_feasible(spec, world.true_rates())
        strategy = strategy_for(spec, world.true_rates())
    except ScenarioError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    except ValueError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    say(f"scenario {spec.name}: {spec.describe()}")
    if plan:
        say(plan)
    started = time.perf_counter()
    if sys.stdout.isatty():
        with click.progressbar(length=runs, label="simulating") as bar:
            results = simulate_runs(spec, strategy, world, seed, runs, progress=bar.update)
    else:
        done = [0]

        def line(n: int) -> None:
            done[0] += n
            say(f"simulated {done[0]}/{runs} runs")

        results = simulate_runs(spec, strategy, world, seed, runs, progress=line)
    seconds = time.perf_counter() - started
    summary = summarise(spec, world, results)
    say("")
    for text in lines(spec, world, summary, seed, seconds):
        say(text)
    if plot_path is not None:
        from rolloutlab.sim.plot import plot_simulation

        say(f"\nplot: {plot_simulation(spec.name, summary, results, plot_path)}")
