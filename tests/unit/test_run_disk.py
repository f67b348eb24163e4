"""A disk that cannot take a run: refused before the lab starts, or (filling up mid-run) an abort with the journal intact."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rolloutlab import paths
from rolloutlab.errors import RunDirError

PROJECT = Path(__file__).resolve().parents[2]


def test_a_runs_directory_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("a file where the runs directory should be")
    with pytest.raises(RunDirError, match=r"cannot write a run directory under .*runs: Not a directory"):
        paths.new_run_dir(tmp_path, "canary-basic")


def test_too_little_free_space_is_refused_before_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = paths.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(paths.shutil, "disk_usage", lambda _: real._replace(free=10 * 2**20))
    with pytest.raises(RunDirError, match=r"only 10 MiB free .* at least 64 MiB"):
        paths.new_run_dir(tmp_path, "canary-basic")


# The real kernel limit on file size (RLIMIT_FSIZE) makes the journal's writes fail with EFBIG part-way
# through the run, as a full disk does with ENOSPC; in a child process so nothing else here is limited.
FULL_DISK_RUN = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    from rolloutlab.engine import Engine
    from rolloutlab.journal import Journal
    from tests.fakes.fake_router import FakeRouter
    from rolloutlab.routing import RoutingState
    from rolloutlab.strategies.factory import strategy_for
    from tests.unit.test_engine import CANARY, metrics

    path = Path(sys.argv[1])
    router = FakeRouter({"v1", "v2"}, RoutingState({"v1": 100, "v2": 0}))
    journal = Journal(path)
    run = Engine(CANARY, strategy_for(CANARY), router, metrics(v2_requests=100), journal, sleep=lambda _: None)
    run._wait = lambda seconds: None
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(), not death by signal
    journal.write("note", text="before the limit")
    limit = path.stat().st_size + 4000  # room for the start and part of the first step
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    outcome = run.execute()
    print(json.dumps({"outcome": outcome.outcome, "reason": outcome.reason, "limit": limit,
                      "weights": router.current().weights, "applied": [s.weights for s in router.history]}))
""")


def test_a_disk_filling_up_mid_run_aborts_to_the_baseline_with_the_journal_intact(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    result = subprocess.run([sys.executable, "-c", FULL_DISK_RUN, str(journal)], cwd=PROJECT, capture_output=True,
                            text=True, timeout=60, env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and result.stdout, result.stdout + result.stderr
    run = json.loads(result.stdout)
    assert run["outcome"] == "aborted" and run["reason"].startswith("cannot write the journal")
    assert "File too large" in run["reason"]
    assert run["weights"] == {"v1": 100, "v2": 0} and {"v1": 90, "v2": 10} in run["applied"]
    lines = journal.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # no torn line: every line is valid JSON
    assert journal.stat().st_size <= run["limit"] and [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["event"] == "note" and records[1]["event"] == "run_started"
