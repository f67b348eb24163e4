"""`rolloutlab gates`: serve two versions on their own, run the pre-deploy gates, print each result."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import TYPE_CHECKING

import click

from rolloutlab.cli.common import EXIT_GATE_FAILED, EXIT_INTERRUPTED, say

if TYPE_CHECKING:
    from rolloutlab.gates import GateResult

# rolloutlab.gates.GATE_NAMES, spelled out: importing the gates package here would slow every command's start.
GATE_NAMES = ("offline_eval", "contract", "latency_smoke", "stress")


def _line(result: GateResult) -> str:
    mark = "SKIPPED" if result.skipped else ("PASS" if result.passed else "FAIL")
    return f"{mark:<7} {result.name:<14} {result.summary}  ({result.seconds:.1f}s)"


@click.command("gates")
@click.argument("baseline")
@click.argument("candidate")
@click.option("--skip", "skipped", multiple=True, type=click.Choice(GATE_NAMES),
              help="Leave this gate out (repeatable).")
@click.option("--stress", "with_stress", is_flag=True, help="Also run the short stress gate (off by default).")
@click.option("--ready-timeout", type=float, default=90.0, show_default=True,
              help="Seconds to wait for both model servers to become ready.")
def gates(baseline: str, candidate: str, skipped: tuple[str, ...], with_stress: bool, ready_timeout: float) -> None:
    """Run the pre-deploy gates of CANDIDATE against BASELINE, each version on a server of its own.

    \b
    offline_eval   held-out rows through both servers: accuracy and macro-F1 within 0.01 of the baseline
    contract       good rows → 200 with valid predictions; bad bodies → 4xx with a JSON error
    latency_smoke  200 single-row requests each, interleaved, 4 at a time: p95 within 1.5× (or +10 ms)
    stress         (--stress) a 15 s Locust step load on the candidate up to 50 req/s, p95 ≤ 300 ms

    \b
    Exit status: 0 every gate passed, 3 a gate failed, 1 error, 130 interrupted.
    Writes <run dir>/gates.jsonl (one result per line) and the servers' logs.

    \b
    Examples:
      rolloutlab gates v1 v2
      rolloutlab gates v1 degraded                 the offline gate stops it
      rolloutlab gates v1 slow --skip offline_eval --stress
    """
    from rolloutlab import zoo
    from rolloutlab.errors import GateError
    from rolloutlab.gates import Gates, StressGate, run_gates
    from rolloutlab.paths import lab_home, new_run_dir
    from rolloutlab.targets.processes import wait_until_ready
    from rolloutlab.zoo.server import start_server

    if baseline == candidate:
        raise GateError(f"baseline and candidate are both {baseline!r}: the gates compare two versions")
    spec = Gates(stress=StressGate(enabled=True) if with_stress else None)
    spec = spec.model_copy(update={name: None for name in skipped})
    catalogue = zoo.load_catalogue()
    catalogue.require([baseline, candidate])
    zoo.ensure_built([baseline, candidate], catalogue, progress=say)
    run_dir = new_run_dir(lab_home(), f"gates-{baseline}-{candidate}")
    say(f"gates {', '.join(spec.enabled()) or '(none)'}: {candidate} against {baseline}; run directory {run_dir}")
    # A plain `kill` must stop the servers too, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    servers = []
    started = time.monotonic()
    try:
        for name in (baseline, candidate):
            servers.append(start_server(catalogue, name, run_dir / "servers"))
        wait_until_ready({s.name: (s.record, s.url + "/readyz") for s in servers}, ready_timeout,
                         on_ready=lambda name, seconds: say(f"{name} ready after {seconds:.1f}s"))
        results = run_gates(spec, baseline=baseline, candidate=candidate, urls={s.name: s.url for s in servers},
                            holdout=zoo.holdout_path(), progress=say, run_dir=run_dir / "stress")
    except KeyboardInterrupt:
        click.secho("interrupted: the model servers were stopped", fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        for server in servers:
            server.stop()
    with open(run_dir / "gates.jsonl", "w", encoding="utf-8") as journal:
        for result in results:
            journal.write(json.dumps(result.to_dict()) + "\n")
    say("")
    for result in results:
        click.secho(_line(result), fg="green" if result.passed else ("yellow" if result.skipped else "red"))
    failed = [r.name for r in results if not r.passed and not r.skipped]
    elapsed = time.monotonic() - started
    if failed:
        click.secho(f"\ngates FAILED: {', '.join(failed)} — {candidate} must not receive traffic ({elapsed:.0f}s)",
                    fg="red", bold=True)
        sys.exit(EXIT_GATE_FAILED)
    say(f"\ngates passed: {len(results)} of {len(results)} — {candidate} may receive traffic ({elapsed:.0f}s)")
