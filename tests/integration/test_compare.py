"""`rolloutlab compare` end to end on the local target, on a terminal (a pseudo-terminal): one lab, the same
seeded load for every strategy, the live view while it runs, and one comparison at the end."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from rolloutlab.report.impact import impact
from rolloutlab.report.rundir import load_run
from rolloutlab.journal import read_journal
from rolloutlab.scenario import load_scenario
from tests.integration.conftest import CLI, PROJECT
from tests.integration.test_shipped_scenarios import assert_expected_decision

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(args: list[str], timeout: float) -> tuple[int, str]:
    """Run a command with a pseudo-terminal (120 × 40) as its stdin, stdout and stderr; return its exit and output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=PROJECT, start_new_session=True,
                               env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side closed (the process exited)
                    break
                if not data:
                    break
                chunks.append(data)
        else:
            process.kill()
            raise AssertionError("compare did not finish in time:\n" + b"".join(chunks).decode("utf-8", "replace")[-3000:])
        status = process.wait(timeout=60)
    finally:
        os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace")


def test_compare_bad_release_canary_exposes_fewer_users_than_blue_green(home: Path) -> None:
    status, output = run_on_a_terminal([*CLI, "compare", "compare-bad-release", "--time-scale", "0.4",
                                        "--set", "load.users=25"], timeout=900)
    plain = ANSI.sub("", output)
    assert status == 0, plain[-4000:]
    # The live view drew itself: a panel with the phase, each version's traffic and the interval's progress bar.
    assert "╭" in plain and "phase:" in plain and "req/s" in plain and "p95" in plain
    assert re.search(r"\d+s / 6s", plain), plain[-3000:]
    assert "━" in output  # rich's progress bar
    assert "last verdict: Failed" in plain
    folder = max((home / "comparisons").glob("*-compare-bad-release"))
    assert (folder / "comparison.html").is_file() and (folder / "figures" / "comparison.png").is_file()
    record = json.loads((folder / "comparison.json").read_text())
    runs = {r["scenario"]: load_run(folder / r["dir"]) for r in record["runs"]}
    assert list(runs) == ["canary-slow", "bluegreen-bad-release", "shadow-slow"]
    for name, data in runs.items():
        assert data.problems == [] and (data.path / "report.html").is_file()
        # These three run only here: each must show what the shipped scenario promises (test_shipped_scenarios).
        assert_expected_decision(load_scenario(name), read_journal(data.path / "journal.jsonl"), data.path)
        assert data.scenario["load"] == runs["canary-slow"].scenario["load"]  # the same seeded load
        assert data.scenario["load"]["seed"] == 42 and data.scenario["load"]["users"] == 25
    assert runs["canary-slow"].outcome == runs["bluegreen-bad-release"].outcome == "rolled back"
    assert runs["shadow-slow"].outcome == "rejected"
    blast = {name: impact(data, 50, ["slow"]).blast(["slow"]) for name, data in runs.items()}  # type: ignore[union-attr]
    requests, users = 0, 1
    assert 0 < blast["canary-slow"][requests] < blast["bluegreen-bad-release"][requests]
    assert 0 < blast["canary-slow"][users] < blast["bluegreen-bad-release"][users]
    assert blast["shadow-slow"][requests] == blast["shadow-slow"][users] == 0
    assert "lab stopped" in plain or "stopping the lab" in plain
