"""`rolloutlab stress` on the deliberately slow version (models/versions.yaml `slow`) of a real lab."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.conftest import lab_processes, rolloutlab


def test_stress_finds_the_knee_and_the_limit_of_the_slow_version(home: Path) -> None:
    # `slow` answers in ≈ 60 ms (p95 ≈ 200 ms) while it keeps up: 400 ms is its SLO.
    result = rolloutlab("stress", "slow", "--max-p95", "400ms", "--start-users", "10", "--step-users", "10",
                        "--step-time", "5s", "--max-users", "300", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "the lab is not up: starting one that serves slow" in out and "stopping the lab" in out
    run_dir = Path(re.search(r"^artifacts: (\S+)", out, re.M).group(1))
    report = json.loads((run_dir / "stress.json").read_text())
    steps = report["steps"]

    assert report["broke"], "the load never broke the SLO: nothing was learnt"
    broken = steps[-1]
    assert not broken["ok"] and broken["breaches"]
    assert all(s["ok"] for s in steps[:-1])  # it stopped at the first step that broke
    assert report["sustainable_step"] == len(steps) - 2
    assert report["highest_sustainable_rps"] == steps[-2]["achieved_rps"] > 0
    assert f"highest sustainable rate: {report['highest_sustainable_rps']:.1f} req/s" in out
    # The knee: latency flat, then climbing; it lies before the step that broke.
    assert report["knee_step"] is not None and report["knee_step"] < len(steps) - 1
    assert steps[report["knee_step"]]["p95_ms"] < broken["p95_ms"]
    assert "knee: about" in out
    assert all(b["offered_rps"] > a["offered_rps"] for a, b in zip(steps, steps[1:]))  # it ramped

    png = run_dir / "stress.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert len((run_dir / "steps.csv").read_text().splitlines()) == len(steps) + 1
    assert not (home / "lab" / "state.json").exists()
    assert lab_processes(home) == []
