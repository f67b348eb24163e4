"""`rolloutlab gates` end to end: it serves both versions, runs the gates, reports, exits 3, stops its servers."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutlab import zoo
from tests.integration.conftest import rolloutlab


def test_gates_command_stops_degraded_with_exit_3_and_leaves_nothing_running(home: Path) -> None:
    done = rolloutlab("gates", "v1", "degraded", "--skip", "latency_smoke", timeout=240)
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout
    catalogue = zoo.load_catalogue()  # what the build measured in-process; the gate asks the servers
    degraded, v1 = (zoo.evaluation(catalogue, name)["accuracy"] for name in ("degraded", "v1"))
    assert f"FAIL    offline_eval   accuracy {degraded:.3f} vs v1 {v1:.3f} (drop {v1 - degraded:.3f} > 0.010)" in out
    assert "PASS    contract       8/8 cases kept the contract" in out
    assert "latency_smoke" not in out.split("run directory")[1]  # skipped on request: neither run nor reported
    assert "gates FAILED: offline_eval — degraded must not receive traffic" in out
    run_dir = Path(out.split("run directory ")[1].splitlines()[0])
    journal = [json.loads(line) for line in (run_dir / "gates.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["name"], r["passed"]) for r in journal] == [("offline_eval", False), ("contract", True)]
    assert journal[0]["numbers"]["candidate_accuracy"] < 0.8
    # the `home` fixture checks afterwards that no process of the lab home is left running


def test_gates_command_refuses_unknown_versions_with_exit_1(home: Path) -> None:
    done = rolloutlab("gates", "v1", "nope", timeout=60)
    assert done.returncode == 1
    assert "unknown model version(s) nope" in done.stderr and "Traceback" not in done.stderr
