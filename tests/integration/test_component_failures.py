"""A part of the lab SIGKILLed a few seconds into canary-basic's 10 % step, on the real local target.

Each run starts its own lab (a killed component cannot be shared), time-scaled so one case takes about
half a minute. Every case checks the outcome, the exit code, the journal (valid JSON lines up to
run_finished) and that nothing of the lab is left running once the run has stopped it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from rolloutlab.journal import read_journal
from tests.integration.conftest import CLI, PROJECT, lab_processes, rolloutlab

FAST = ["--time-scale", "0.5", "--set", "load.users=25"]
KILL_AFTER_S = 2.0  # into the 10 % step


def start_run(home: Path, *extra: str) -> subprocess.Popen:
    # Its own process group, as a shell gives a foreground job: Ctrl-C is a SIGINT to the whole group.
    return subprocess.Popen([*CLI, "run", "canary-basic", *FAST, *extra], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for_first_step(home: Path, process: subprocess.Popen, timeout: float = 150) -> Path:
    """The run's journal once v2 has its 10 %."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for journal in sorted((home / "runs").glob("*-canary-basic/journal.jsonl"), key=lambda p: p.stat().st_mtime)[-1:]:
            weights = [r["weights"] for r in read_journal(journal) if r["event"] == "routing_applied"]
            if weights and weights[-1].get("v2") == 10:
                return journal
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the canary never reached its first step:\n{process.communicate()[0]}")


def lab_pids(home: Path) -> dict[str, int]:
    state = json.loads((home / "lab" / "state.json").read_text())
    pids = {p["name"]: p["pid"] for p in state["processes"]}
    pids["nginx"] = int((home / "lab" / "nginx" / "nginx.pid").read_text())
    return pids


def locust_pid(home: Path) -> int:
    locust = [p for p in lab_processes(home) if "locust" in " ".join(p.info["cmdline"] or [])]
    assert locust, "no locust process of this lab home"
    return locust[0].pid


def sigkill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (a BentoML server's workers run in sessions of their own)."""
    process = psutil.Process(pid)
    for victim in [*process.children(recursive=True), process]:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass


def finish(process: subprocess.Popen, journal: Path, timeout: float = 90) -> tuple[str, list[dict]]:
    output, _ = process.communicate(timeout=timeout)
    lines = journal.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line valid JSON
    assert records[-1]["event"] == "run_finished", output
    return output, records


def killed_mid_run(home: Path, component: str) -> tuple[subprocess.Popen, str, list[dict], float]:
    process = start_run(home)
    journal = wait_for_first_step(home, process)
    time.sleep(KILL_AFTER_S)
    pid = locust_pid(home) if component == "locust" else lab_pids(home)[component]
    sigkill_tree(pid)
    killed_at = time.monotonic()
    output, records = finish(process, journal)
    return process, output, records, time.monotonic() - killed_at


def routing(records: list[dict]) -> list[dict]:
    return [r for r in records if r["event"] == "routing_applied"]


def test_candidate_server_killed_rolls_back_within_one_interval_on_its_users_errors(home: Path) -> None:
    process, output, records, took = killed_mid_run(home, "model v2")
    assert process.returncode == 3, output  # rolled back
    failed = next(r for r in records if r["event"] == "analysis" and r["verdict"] == "Failed")
    assert failed["version"] == "v2" and "the server of v2" in failed["reasons"][0]
    assert failed["router_errors"] is None or failed["router_errors"] >= 0
    assert routing(records)[-1]["weights"] == {"v1": 100, "v2": 0}
    assert records[-1]["outcome"] == "rolled back"
    rolled_back = next(r["ts"] for r in records if r["event"] == "routing_applied" and r["weights"]["v2"] == 0
                       and r["phase"] != "baseline")
    first_step = next(r["ts"] for r in records if r["event"] == "routing_applied" and r["weights"]["v2"] == 10)
    assert rolled_back - first_step < 7.5 + 3  # within the step's interval (7.5 s here), not after two
    assert lab_processes(home) == []


def test_baseline_server_killed_aborts_as_an_infrastructure_fault(home: Path) -> None:
    process, output, records, _ = killed_mid_run(home, "model v1")
    assert process.returncode == 1, output
    assert records[-1]["outcome"] == "aborted"
    assert records[-1]["reason"].startswith("infrastructure fault: the server of v1")
    assert "promoted" not in [r.get("outcome") for r in records]
    assert lab_processes(home) == []


def test_prometheus_killed_aborts_metrics_unavailable(home: Path) -> None:
    process, output, records, _ = killed_mid_run(home, "prometheus")
    assert process.returncode == 1, output
    assert records[-1]["reason"].startswith("infrastructure fault: metrics unavailable: prometheus")
    assert not [r for r in records if r["event"] == "decision" and r["verdict"] is not None]
    assert routing(records)[-1]["weights"] == {"v1": 100, "v2": 0}
    assert lab_processes(home) == []


def test_locust_killed_aborts_load_stopped(home: Path) -> None:
    process, output, records, _ = killed_mid_run(home, "locust")
    assert process.returncode == 1, output
    assert records[-1]["reason"].startswith("load stopped")
    assert routing(records)[-1]["weights"] == {"v1": 100, "v2": 0}
    assert lab_processes(home) == []


def test_nginx_killed_is_a_loud_quick_rollback_failure_and_down_still_cleans_up(home: Path) -> None:
    process, output, records, took = killed_mid_run(home, "nginx")
    assert process.returncode == 4, output
    assert "ROLLBACK FAILED" in output and "nginx" in output
    assert took < 20, f"noticed {took:.0f}s after NGINX died"
    failed = next(r for r in records if r["event"] == "rollback_failed")
    assert failed["target"] == "v1" and "not running" in failed["message"]
    assert records[-1]["rollback_failed"] is True and "the router is gone" in records[-1]["reason"]
    assert lab_processes(home) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_interrupt_during_the_first_step_aborts_to_the_baseline(home: Path, sig: signal.Signals) -> None:
    process = start_run(home)
    journal = wait_for_first_step(home, process)
    time.sleep(KILL_AFTER_S)
    if sig is signal.SIGINT:
        os.killpg(process.pid, sig)  # as Ctrl-C does: to the run's whole process group
    else:
        process.send_signal(sig)
    output, records = finish(process, journal)
    assert process.returncode == 130, output
    assert records[-1]["outcome"] == "aborted" and records[-1]["reason"] == "interrupted by the user"
    assert routing(records)[-1]["weights"] == {"v1": 100, "v2": 0}
    assert not (home / "lab" / "state.json").exists()
    assert lab_processes(home) == []
