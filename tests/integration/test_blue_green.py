"""Blue-green on a lab the run starts itself: blue is stopped once green passes the watch window."""

from __future__ import annotations

from pathlib import Path

import psutil

from rolloutlab.journal import read_journal
from rolloutlab.scenario import load_scenario
from tests.integration.conftest import lab_processes, rolloutlab
from tests.integration.test_canary_basic import FAST, run_dir_from
from tests.integration.test_shipped_scenarios import assert_expected_decision


def test_bluegreen_basic_switches_without_loss_and_stops_blue_after_the_watch(home: Path) -> None:
    result = rolloutlab("run", "bluegreen-basic", *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = run_dir_from(result.stdout)
    records = read_journal(run_dir / "journal.jsonl")
    assert_expected_decision(load_scenario("bluegreen-basic"), records, run_dir)
    switch = next(r for r in records if r["event"] == "switch")
    assert switch["failed_requests"] == 0 and switch["switch_s"] is not None
    retired = next(r for r in records if r["event"] == "retired")
    assert retired["version"] == "v1" and retired["message"].startswith("stopped v1 (pid ")
    pid = int(retired["message"].split("pid ")[1].split(")")[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    watch = next(r for r in records if r["event"] == "analysis" and r["phase"] == "watch")
    assert watch["reference_baseline"]["version"] == "v1"  # judged against blue's window before the switch
    assert lab_processes(home) == []
