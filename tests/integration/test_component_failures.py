"""A part of the lab SIGKILLed a few seconds into canary-basic's 10 % step, on the real local target.

Each run starts its own lab (a killed component cannot be shared), time-scaled; what leaves the lab
intact (the load generator killed, interrupts) shares one lab in test_run_interrupts.py. Every case checks the outcome, the exit code, the journal (valid JSON lines up to
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

from rolloutlab.journal import read_journal
from tests.integration.conftest import CLI, PROJECT, lab_processes

FAST = ["--time-scale", "0.5", "--set", "load.users=25"]
KILL_AFTER_S = 2.0  # into the 10 % step


class Run:
    """`rolloutlab run canary-basic` in its own process group, as a shell runs a foreground job."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.before = set((home / "runs").glob("*")) if (home / "runs").is_dir() else set()
        self.process = subprocess.Popen([*CLI, "run", "canary-basic", *FAST, *extra], cwd=PROJECT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)

    def journal(self) -> Path | None:
        mine = [d for d in (self.home / "runs").glob("*-canary-basic") if d not in self.before] \
            if (self.home / "runs").is_dir() else []
        return mine[0] / "journal.jsonl" if mine and (mine[0] / "journal.jsonl").exists() else None

    def wait_for(self, reached, what: str, timeout: float = 150) -> Path:
        """This run's journal once `reached(records)` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            journal = self.journal()
            if journal is not None and reached(read_journal(journal)):
                return journal
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"the run never reached {what}:\n{self.process.communicate()[0]}")

    def wait_for_first_step(self) -> Path:
        return self.wait_for(lambda records: any(r["event"] == "routing_applied" and r["weights"].get("v2") == 10
                                                 for r in records), "its first canary step")

    def finish(self, timeout: float = 120) -> tuple[str, list[dict]]:
        output, _ = self.process.communicate(timeout=timeout)
        journal = self.journal()
        assert journal is not None, output
        records = [json.loads(line) for line in journal.read_text().splitlines()]  # every line valid JSON
        assert records[-1]["event"] == "run_finished", output
        return output, records


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


def killed_mid_run(home: Path, component: str) -> tuple[subprocess.Popen, str, list[dict], float]:
    """Output, journal and the wall time of the kill, for `component` SIGKILLed into the 10 % step."""
    run = Run(home)
    run.wait_for_first_step()
    time.sleep(KILL_AFTER_S)
    sigkill_tree(locust_pid(home) if component == "locust" else lab_pids(home)[component])
    killed_at = time.time()
    output, records = run.finish()
    return run.process, output, records, killed_at


def routing(records: list[dict]) -> list[dict]:
    return [r for r in records if r["event"] == "routing_applied"]


def test_candidate_server_killed_rolls_back_within_one_interval_on_its_users_errors(home: Path) -> None:
    process, output, records, _ = killed_mid_run(home, "model v2")
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
    process, output, records, killed_at = killed_mid_run(home, "prometheus")
    assert process.returncode == 1, output
    assert records[-1]["reason"].startswith("infrastructure fault: metrics unavailable: prometheus")
    # No verdict from missing data: nothing decided after the kill (a sequential step may pass before it).
    assert not [r for r in records if r["event"] == "decision" and r["verdict"] is not None and r["ts"] > killed_at]
    assert routing(records)[-1]["weights"] == {"v1": 100, "v2": 0}
    assert lab_processes(home) == []


def test_nginx_killed_is_a_loud_quick_rollback_failure_and_down_still_cleans_up(home: Path) -> None:
    process, output, records, killed_at = killed_mid_run(home, "nginx")
    assert process.returncode == 4, output
    assert "ROLLBACK FAILED" in output and "nginx" in output
    failed = next(r for r in records if r["event"] == "rollback_failed")
    # Noticed by the engine's once-a-second look, not at the next routing change (7.5 s later here).
    assert failed["ts"] - killed_at < 5, f"the rollback failed {failed['ts'] - killed_at:.1f}s after NGINX died"
    assert failed["target"] == "v1" and "not running" in failed["message"]
    assert records[-1]["rollback_failed"] is True and "the router is gone" in records[-1]["reason"]
    assert lab_processes(home) == []


def test_ctrl_c_while_the_lab_starts_stops_what_started_and_leaves_nothing(home: Path) -> None:
    run = Run(home)
    deadline = time.monotonic() + 120
    while not (home / "lab" / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a server or two started, the lab not ready yet
    os.killpg(run.process.pid, signal.SIGINT)
    output, _ = run.process.communicate(timeout=120)
    assert run.process.returncode == 130, output
    assert "interrupted" in output
    assert run.journal() is None  # no run began: none is listed
    assert not (home / "lab" / "state.json").exists()
    assert lab_processes(home) == []
