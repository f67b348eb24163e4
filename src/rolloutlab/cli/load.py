"""`rolloutlab load` (a load shape against the running lab) and `rolloutlab stress VERSION` (find its limit)."""

from __future__ import annotations

import math
import signal
import sys
from typing import TYPE_CHECKING

import click

from rolloutlab.cli.common import EXIT_INTERRUPTED, say
from rolloutlab.durations import format_duration, parse_duration

if TYPE_CHECKING:  # imported lazily at run time, so `--help` stays fast
    from rolloutlab.load.session import Sample
    from rolloutlab.load.stress_plan import StepResult


def _duration(_: click.Context, __: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _interrupt_on_sigterm() -> None:
    # A plain `kill` stops the load like Ctrl-C does: every Locust process is stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


def progress_line(sample: Sample) -> str:
    """One line of the live view: users, rate, failures, p95, then the same per served version."""
    last, recent = sample.last, sample.recent
    minutes, seconds = divmod(int(sample.elapsed), 60)
    fail = last.total.failures / last.total.requests if last.total.requests else 0.0
    line = (f"[{minutes}:{seconds:02d}] users {last.users:.0f}/{last.target_users:.0f}  {last.total.rps:6.1f} req/s  "
            f"fail {100 * fail:4.1f}%  p95 {_ms(recent.total.p95_ms)}")
    for version, w in last.versions.items():
        p95 = recent.versions[version].p95_ms if version in recent.versions else math.nan
        line += f"  | {version} {w.rps:.1f} req/s p95 {_ms(p95)}" + (f" fail {w.failures:.0f}" if w.failures else "")
    if last.feedback:
        line += "  | feedback " + " ".join(f"{k} {v:.0f}" for k, v in sorted(last.feedback.items()) if v)
    if last.cpu_percent >= 90:
        line += f"  | load generator at {last.cpu_percent:.0f}% CPU: it may be the bottleneck (try --workers)"
    return line


@click.command("load")
@click.option("--scenario", help="Start from this scenario's `load:` section (a name or a YAML path).")
@click.option("--shape", type=click.Choice(["steady", "ramp", "step", "spike", "soak", "wave"]),
              help="Load shape (default: the scenario's, else steady).")
@click.option("--users", type=click.IntRange(1, 1000), help="Steady / peak number of Locust users.")
@click.option("--rate-per-user", type=click.FloatRange(0, 100, min_open=True), help="Requests per second per user.")
@click.option("--duration", callback=_duration,
              help="How long to run, e.g. 90s or 5m (default: one pass of the shape).")
@click.option("--seed", type=int, help="Seed of the traffic plan (same seed, same users and rows).")
@click.option("--feedback-delay", help="Seconds before each label is posted to /feedback, or 'off'.")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE",
              help="Any other load field, e.g. --set ramp_time=30s --set population=200.")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Run a Locust master and this many worker processes (0: one process).")
@click.option("--version", "direct_version", metavar="VERSION",
              help="Send straight to this version's model server instead of through the router.")
@click.option("--host", help="Load another service on this machine instead (http://127.0.0.1:PORT).")
@click.option("--interval", callback=_duration, default="2s", show_default=True, help="Progress line every...")
def load(scenario: str | None, shape: str | None, users: int | None, rate_per_user: float | None,
         duration: float | None, seed: int | None, feedback_delay: str | None, overrides: tuple[str, ...],
         workers: int, direct_version: str | None, host: str | None, interval: float) -> None:
    """Run a load shape against the running lab, with a live view per served version.

    \b
    Shapes: steady, ramp (start_users → users over ramp_time), step (step_users more every step_time),
    spike (spike_users for spike_time at spike_at), soak (warmup, then a long hold), wave (a diurnal-like
    cosine between min_users and users over period). Client metrics go to the lab's Prometheus while
    it runs (rolloutlab_client_*); the run directory keeps Locust's CSVs, progress.jsonl, summary.json.

    \b
    Examples:
      rolloutlab up
      rolloutlab load --shape ramp --users 40 --set ramp_time=30s
      rolloutlab load --scenario canary-basic --duration 2m --workers 2
      rolloutlab load --shape spike --users 5 --set spike_users=60 --set spike_at=20s
      rolloutlab load --shape wave --users 30 --set period=60s --duration 3m --version v2
    """
    from rolloutlab.load.lab_load import plan_load, run_planned_load

    options = {"shape": shape, "users": users, "rate_per_user": rate_per_user, "duration": duration, "seed": seed,
               "feedback_delay": feedback_delay}
    plan = plan_load(scenario, options, list(overrides), workers=workers, direct_version=direct_version, host=host)
    say(f"load: {plan.spec.shape} — {plan.describe} for {format_duration(plan.seconds)} against {plan.spec.host}"
        + (f" ({workers} workers)" if workers else ""))
    say(f"run directory {plan.run_dir}")
    _interrupt_on_sigterm()
    try:
        result = run_planned_load(
            plan, interval=interval, on_sample=lambda s: say(progress_line(s)),
            on_start=lambda r: say(f"locust pids {', '.join(map(str, r.pids))}"
                                   + ("; client metrics registered with the lab's Prometheus" if plan.spec.file_sd_dir
                                      else "")),
        )
    except KeyboardInterrupt:
        click.secho(f"interrupted: the load generator was stopped; partial results in {plan.run_dir}",
                    fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    totals = result.totals
    say(f"\n{result.ended_by}: {totals.total.requests:.0f} predictions in {result.seconds:.0f}s "
        f"({totals.total.rps:.1f} req/s), {totals.total.failures:.0f} failed, p50 {_ms(totals.total.p50_ms)}, "
        f"p95 {_ms(totals.total.p95_ms)}")
    for version, w in totals.versions.items():
        say(f"  {version:<10} {w.requests:8.0f} req  {w.rps:7.1f} req/s  {w.failures:6.0f} failed  "
            f"p50 {_ms(w.p50_ms):>8}  p95 {_ms(w.p95_ms):>8}")
    if totals.feedback:
        say("  feedback   " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(totals.feedback.items())))
    say(f"artifacts: {plan.run_dir} (summary.json, progress.jsonl, locust_stats.csv, locust_stats_history.csv)")



def _ms_option(_: click.Context, __: click.Parameter, value: str) -> float:
    try:
        return 1000 * parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def step_line(step: StepResult) -> str:
    """One line per stress step: users, offered and achieved rate, latency, errors, verdict."""
    if not step.judged:
        verdict = "not judged (too few requests)"
    else:
        verdict = "ok" if step.ok else "BROKE: " + "; ".join(step.breaches)
    line = (f"step {step.index + 1}: {step.users:.0f} users, offered {step.offered_rps:.0f} req/s → "
            f"{step.achieved_rps:.1f} req/s, p50 {_ms(step.p50_ms)}, p95 {_ms(step.p95_ms)}, "
            f"errors {100 * step.error_rate:.2f}%  {verdict}")
    if step.cpu_percent >= 90:
        line += f"  (load generator at {step.cpu_percent:.0f}% CPU: it may be the limit; try --workers)"
    return line


@click.command("stress")
@click.argument("version")
@click.option("--max-p95", "max_p95_ms", callback=_ms_option, default="250ms", show_default=True,
              help="SLO: p95 latency above this breaks it.")
@click.option("--max-error-rate", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="SLO: a share of failed predictions above this breaks it.")
@click.option("--start-users", type=click.IntRange(1, 5000), default=5, show_default=True)
@click.option("--step-users", type=click.IntRange(1, 5000), default=5, show_default=True, help="Users added per step.")
@click.option("--max-users", type=click.IntRange(1, 5000), default=200, show_default=True,
              help="Stop here if nothing broke.")
@click.option("--step-time", callback=_duration, default="10s", show_default=True, help="How long each step holds.")
@click.option("--rate-per-user", type=click.FloatRange(0, 100, min_open=True), default=5.0, show_default=True)
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Locust workers (when one process is the bottleneck).")
@click.option("--via-router", is_flag=True, help="Go through the router, pinned to VERSION by x-model-version.")
@click.option("--keep-up", is_flag=True, help="Leave the lab running when this command started it.")
@click.option("--seed", type=int, default=42, show_default=True)
def stress(version: str, max_p95_ms: float, max_error_rate: float, start_users: int, step_users: int, max_users: int,
           step_time: float, rate_per_user: float, workers: int, via_router: bool, keep_up: bool, seed: int) -> None:
    """Ramp load on VERSION step by step until its SLO breaks; report the highest sustainable rate and the knee.

    Each step adds --step-users users (each aiming at --rate-per-user req/s) and holds --step-time; the
    first seconds of a step are not measured. A step breaks the SLO when its p95 exceeds --max-p95, its
    error rate exceeds --max-error-rate, or the version serves under 80 % of the offered rate. The knee
    is where p95 stops being flat and starts to climb (Kneedle). Uses the running lab if it serves
    VERSION, else starts one serving only VERSION (and stops it afterwards).

    \b
    Writes <run dir>/stress.png (p95 and throughput against offered load), stress.json, steps.csv,
    progress.jsonl and Locust's CSVs.

    \b
    Examples:
      rolloutlab stress v2
      rolloutlab stress slow --max-p95 300ms --step-users 10 --step-time 8s
      rolloutlab stress v1 --max-p95 20ms --workers 2
    """
    from rolloutlab.load.lab_stress import stress_version
    from rolloutlab.load.stress_plan import StressPlan

    plan = StressPlan(start_users=start_users, step_users=step_users, max_users=max_users, step_time=step_time,
                      rate_per_user=rate_per_user, max_p95_ms=max_p95_ms, max_error_rate=max_error_rate,
                      workers=workers, seed=seed)
    say(f"stress {version}: {plan.steps} steps of {step_time:g}s, {start_users} → {max_users} users × "
        f"{rate_per_user:g} req/s; SLO p95 ≤ {max_p95_ms:g} ms, errors ≤ {100 * max_error_rate:g}%")
    _interrupt_on_sigterm()
    try:
        result = stress_version(version, plan, via_router=via_router, keep_up=keep_up, progress=say,
                                on_step=lambda s: say(step_line(s)),
                                on_start=lambda r: say(f"locust pids {', '.join(map(str, r.pids))}"))
    except KeyboardInterrupt:
        click.secho("interrupted: the load generator (and a lab this command started) was stopped", fg="yellow",
                    err=True)
        sys.exit(EXIT_INTERRUPTED)
    say(f"\n{result.stopped_because}")
    sustainable, knee = result.sustainable, result.knee
    if sustainable is not None:
        click.secho(f"highest sustainable rate: {sustainable.achieved_rps:.1f} req/s "
                    f"({sustainable.users:.0f} users, p95 {_ms(sustainable.p95_ms)})", fg="green", bold=True)
    else:
        click.secho("no sustainable rate: the first step already broke the SLO (lower --start-users)", fg="red")
    if knee is not None:
        say(f"knee: about {knee.offered_rps:.0f} req/s offered (step {knee.index + 1}, p95 {_ms(knee.p95_ms)}): "
            "beyond it latency climbs with load")
    else:
        say("knee: none found (latency stayed flat or too few steps)")
    say(f"plot: {result.plot}" if result.plot else "plot: none (no step completed)")
    say(f"artifacts: {result.run_dir}")
