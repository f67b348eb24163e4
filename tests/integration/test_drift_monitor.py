"""The drift monitor on the local target: started with the lab (`up --drift-monitor`), fed by the servers' sampled features,
scraped by Prometheus; relied-on strokes drifted in by the load generator at a scheduled onset alarm the
impact-weighted detector only after that onset, and move the attribution ranking.

About 2 minutes: one version (v1), 45 s of load at 60 req/s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.conftest import rolloutlab
from tests.integration.test_load_lab import prometheus_value

ONSET = 20  # seconds after the load starts


def wait_for(base: str, promql: str, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = prometheus_value(base, promql)
        if found and all(v >= 1 for v in found.values()):
            return found
        time.sleep(2)
    raise AssertionError(f"{promql} did not reach 1 within {timeout:.0f}s")


def test_strokes_drift_alarms_after_its_onset_and_moves_the_attribution(home: Path) -> None:
    up = rolloutlab("up", "--versions", "v1", "--drift-monitor")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        assert "starting drift monitor" in up.stdout
        state = json.loads((home / "lab" / "state.json").read_text())
        prometheus = f"http://127.0.0.1:{state['prometheus_port']}"
        wait_for(prometheus, 'rolloutlab_drift_ready{model_version="v1"}', timeout=240)
        started = time.time()
        result = rolloutlab("load", "--users", "10", "--rate-per-user", "6", "--duration", "45s",
                            "--set", f"drift={{kind: strokes, onset: {ONSET}s}}", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        time.sleep(3)  # the last windows scraped
        explanations = [json.loads(line) for line in
                        (home / "lab" / "drift" / "explanations.jsonl").read_text().splitlines()]
        windows = [w for w in explanations if w["version"] == "v1" and w["ts"] >= started]
        # The monitor evaluates the latest window once per poll (it may skip windows when busy), so
        # order, not wall time: the load's first windows are undrifted, its last ones all drifted.
        assert len(windows) >= 6, windows
        assert not any(w["alarms"] for w in windows[:3]), windows[:3]
        # Drift where the model looks: the impact-weighted score alarms, the importance ranking moves
        # (nDCG@10 ≈ 0.88 against a threshold ≈ 0.90-0.92: too close to require its own alarm each window).
        assert all({"impact", "feature_drift"} <= set(w["alarms"]) for w in windows[-3:]), windows[-3:]
        ndcg = [w["statistics"]["attribution_ndcg"] for w in windows]
        assert max(ndcg[-3:]) < min(ndcg[:3]), ndcg
        assert set(windows[-1]["drifted_features"]) & {19, 20, 27, 28, 35, 36}  # halved stroke pixels
        # The same alarm, as Prometheus holds it per version.
        series = 'max_over_time(rolloutlab_drift_alarm{model_version="v1",detector="impact"}[30s])'
        assert list(prometheus_value(prometheus, series).values()) == [1.0]
    finally:
        down = rolloutlab("down")
        assert down.returncode == 0, down.stdout + down.stderr
