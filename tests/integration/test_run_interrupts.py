"""Interrupts (Ctrl-C on a terminal, SIGINT to the process group, SIGTERM) and the load generator killed,
at each phase of canary-basic, on one real lab shared by the module (none of these breaks the lab).

A run on a lab that was up before it leaves the lab up, so each case checks the journal: aborted, and
the last routing change put all traffic on the baseline. The lab is stopped at the module's end and
nothing of it may be left running.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import CLI, PROJECT, lab_processes, rolloutlab
from tests.integration.test_component_failures import FAST, Run, locust_pid, routing, sigkill_tree

BASELINE = {"v1": 100, "v2": 0}


@pytest.fixture(scope="module")
def lab(lab_home: Path, built_models: None) -> Iterator[Path]:
    assert lab_processes(lab_home) == []
    up = rolloutlab("up", "--versions", "v1,v2")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield lab_home
    finally:
        down = rolloutlab("down")
        assert down.returncode == 0, down.stdout + down.stderr
        leftovers = lab_processes(lab_home)
        for process in leftovers:
            process.kill()
        assert leftovers == [], [p.info["cmdline"] for p in leftovers]


def in_baseline_window(records: list[dict]) -> bool:
    return any(r["event"] == "step" and r["phase"] == "baseline" for r in records)


def in_first_step(records: list[dict]) -> bool:
    return any(r["event"] == "step" and r["phase"] == "canary" for r in records)


def assert_aborted_on_baseline(records: list[dict], reason: str) -> None:
    assert records[-1]["outcome"] == "aborted" and records[-1]["reason"].startswith(reason), records[-1]
    assert routing(records)[-1]["weights"] == BASELINE
    assert "promoted" not in [r.get("outcome") for r in records]


# SIGINT in the first step, as a terminal sends it, is the live-view case below.
@pytest.mark.parametrize(("sig", "phase"), [(signal.SIGINT, in_baseline_window), (signal.SIGTERM, in_first_step)],
                         ids=["sigint-group-baseline-window", "sigterm-first-step"])
def test_an_interrupt_aborts_with_traffic_on_the_baseline(lab: Path, sig: signal.Signals, phase) -> None:
    run = Run(lab)
    run.wait_for(phase, phase.__name__)
    time.sleep(1.0)
    if sig is signal.SIGINT:
        os.killpg(run.process.pid, sig)  # as Ctrl-C does: the run's whole foreground process group
    else:
        run.process.send_signal(sig)
    output, records = run.finish()
    assert run.process.returncode == 130, output
    assert_aborted_on_baseline(records, "interrupted by the user")


def test_ctrl_c_on_a_terminal_with_the_live_view_aborts_to_the_baseline(lab: Path) -> None:
    # A pseudo-terminal: the run shows its live view (as a user sees it) and ^C is the terminal's SIGINT.
    controller, terminal = pty.openpty()
    before = set((lab / "runs").glob("*"))
    process = subprocess.Popen([*CLI, "run", "canary-basic", *FAST], cwd=PROJECT, stdin=terminal, stdout=terminal,
                               stderr=terminal, start_new_session=True)
    os.close(terminal)
    seen = bytearray()
    try:
        run = Run.__new__(Run)
        run.home, run.before, run.process = lab, before, process
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and process.poll() is None:
            journal = run.journal()
            if journal is not None and in_first_step(read(journal)):
                break
            seen += _drain(controller)
        time.sleep(1.0)
        os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            seen += _drain(controller)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert process.wait(5) == 130, seen.decode(errors="replace")[-2000:]
    journal = run.journal()
    assert journal is not None
    assert_aborted_on_baseline(read(journal), "interrupted by the user")


def read(journal: Path) -> list[dict]:
    from rolloutlab.journal import read_journal

    return read_journal(journal)


def _drain(fd: int) -> bytes:
    import select

    ready, _, _ = select.select([fd], [], [], 0.1)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def test_load_generator_killed_aborts_load_stopped(lab: Path) -> None:
    run = Run(lab)
    run.wait_for_first_step()
    time.sleep(2.0)
    sigkill_tree(locust_pid(lab))
    output, records = run.finish()
    assert run.process.returncode == 1, output
    assert_aborted_on_baseline(records, "load stopped")
