"""Every shipped scenario reaches the decision it promises (canary-basic: see test_canary_basic.py).

Time-scaled (6 s windows) with more users, so the scenarios' own minimum samples still hold.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rolloutlab.cli.experiments import EXIT_CODES
from rolloutlab.journal import read_journal
from rolloutlab.scenario import list_scenarios, load_scenario
from tests.integration.conftest import lab_processes, rolloutlab

FAST = ["--time-scale", "0.4", "--set", "load.users=25"]
SCENARIOS = [load_scenario(str(p)) for p in list_scenarios()]
DECIDED_BY = {  # the check each bad release must trip
    "canary-slow": "p95_ms", "canary-flaky": "error_rate", "canary-tail-latency": "p99_ms",
    "canary-degraded": "accuracy", "canary-leaky": "memory_per_request", "bluegreen-bad-release": "p95_ms",
}


def run(scenario_name: str) -> tuple[object, list[dict], Path]:
    result = rolloutlab("run", scenario_name, *FAST, timeout=400)
    assert "as this scenario expects" in result.stdout, result.stdout + result.stderr
    journal = Path(next(line for line in result.stdout.splitlines() if line.startswith("journal:")).split(":", 1)[1].strip())
    return result, read_journal(journal), journal.parent


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.name != "canary-basic"], ids=lambda s: s.name)
def test_shipped_scenario_reaches_its_expected_decision(home: Path, scenario) -> None:
    assert scenario.expect is not None, f"{scenario.name} must say what it is meant to show (expect:)"
    result, records, run_dir = run(scenario.name)
    assert result.returncode == EXIT_CODES[scenario.expect]
    finished = records[-1]
    assert finished["event"] == "run_finished" and finished["outcome"] == scenario.expect
    candidate = scenario.candidate
    if scenario.expect in ("rolled back", "rejected"):
        assert finished["final_weights"][candidate] == 0
    if scenario.name in DECIDED_BY:
        failed = [r for r in records if r["event"] == "analysis" and r["verdict"] == "Failed"]
        assert failed, f"no analysis failed: {[r.get('reasons') for r in records if r['event'] == 'analysis']}"
        tripped = [c["name"] for c in failed[0]["checks"] if c["verdict"] == "Failed"]
        assert DECIDED_BY[scenario.name] in tripped, failed[0]["reasons"]
    if scenario.strategy == "blue-green":
        check_blue_green(scenario, records, run_dir)
    assert lab_processes(home) == []


def check_blue_green(scenario, records: list[dict], run_dir: Path) -> None:
    blue, green = scenario.versions.baseline, scenario.candidate
    smoke = next(r for r in records if r["event"] == "smoke")
    routing = [r for r in records if r["event"] == "routing_applied"]
    if scenario.expect == "rejected":
        # Green never received a user's request: weight 0 and no mirror in every state ever applied.
        assert not smoke["passed"] and "accuracy" in smoke["summary"]
        assert all(r["weights"].get(green, 0) == 0 and r["routing"].get("mirror") is None for r in routing)
        return
    assert smoke["passed"], smoke
    switch = next(r for r in records if r["event"] == "switch")
    assert switch["switch_s"] is not None and switch["switch_s"] < 10
    assert switch["failed_requests"] == 0  # an atomic switch under load loses nothing
    if scenario.expect == "promoted":
        assert next(r for r in records if r["event"] == "retired")["version"] == blue
        assert routing[-1]["weights"] == {green: 100}
        with open(run_dir / "load" / "locust_stats.csv") as stats:
            total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
        assert int(total["Failure Count"]) == 0 and int(total["Request Count"]) > 500
    else:  # rolled back after the watch window: blue, never stopped, takes everyone back
        assert routing[-1]["weights"] == {blue: 100, green: 0}
        assert not [r for r in records if r["event"] == "retired"]
