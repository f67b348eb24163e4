"""Every shipped scenario reaches the decision it promises (canary-basic: see test_canary_basic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.journal import read_journal
from rolloutlab.scenario import list_scenarios, load_scenario
from tests.integration.conftest import lab_processes, rolloutlab

FAST = ["--set", "analysis.interval=6s", "--set", "analysis.min_requests=15"]
SCENARIOS = [load_scenario(str(p)) for p in list_scenarios()]
REASON = {"canary-slow": "p95", "canary-flaky": "error rate"}  # what each fault should trip


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.name != "canary-basic"], ids=lambda s: s.name)
def test_shipped_scenario_reaches_its_expected_decision(home: Path, scenario) -> None:
    assert scenario.expect is not None, f"{scenario.name} must say what it is meant to show (expect:)"
    result = rolloutlab("run", scenario.name, *FAST)
    assert "as this scenario expects" in result.stdout, result.stdout + result.stderr
    assert result.returncode == (0 if scenario.expect == "promoted" else 3)
    journal = next(line for line in result.stdout.splitlines() if line.startswith("journal:")).split(":", 1)[1]
    records = read_journal(Path(journal.strip()))
    finished = records[-1]
    assert finished["outcome"] == scenario.expect
    if scenario.expect == "rolled back":
        assert finished["final_weights"][scenario.versions.candidate] == 0
        failed = [r for r in records if r["event"] == "analysis" and r["verdict"] == "Failed"]
        assert failed and any(REASON[scenario.name] in reason for reason in failed[0]["reasons"])
    assert lab_processes(home) == []
