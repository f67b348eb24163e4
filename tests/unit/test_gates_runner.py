"""What stops the gates before they judge anything: missing held-out data, unreachable servers, no URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rolloutlab.errors import GateError, RolloutLabError
from rolloutlab.gates import ContractGate, Gates, run_gates
from rolloutlab.gates.holdout import load_holdout
from rolloutlab.targets.processes import free_port


@pytest.fixture
def holdout(tmp_path: Path) -> Path:
    path = tmp_path / "holdout.json"
    path.write_text(json.dumps([{"features": [0.0] * 64, "label": i % 10} for i in range(30)]), encoding="utf-8")
    return path


def test_gate_error_is_a_rollout_lab_error() -> None:
    assert issubclass(GateError, RolloutLabError)


def test_no_enabled_gate_runs_nothing_and_needs_nothing(tmp_path: Path) -> None:
    gates = Gates(offline_eval=None, contract=ContractGate(enabled=False), latency_smoke=None)
    assert run_gates(gates, baseline="v1", candidate="v2", urls={}, holdout=tmp_path / "missing.json") == []


def test_missing_holdout_raises_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"held-out data .*missing.json does not exist; build a model version"):
        run_gates(Gates(), baseline="v1", candidate="v2", urls={"v1": "http://127.0.0.1:1", "v2": "http://127.0.0.1:1"},
                  holdout=tmp_path / "missing.json")


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "is unreadable"),
    ("{}", "expected a non-empty JSON list of rows"),
    ('[{"features": [1, 2], "label": 3}, {"features": [1, 2]}]', "row 1 is not"),
    ('[{"features": [1, 2], "label": "3"}]', "row 0 is not"),
])
def test_unusable_holdout_is_refused_naming_the_row(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "holdout.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GateError, match=problem):
        load_holdout(path)


def test_asking_for_more_rows_than_held_out_is_refused(holdout: Path) -> None:
    assert len(load_holdout(holdout, 10)) == 10
    with pytest.raises(GateError, match="has 30 rows; the offline gate asks for 31"):
        load_holdout(holdout, 31)


def test_a_server_nobody_listens_on_raises_rather_than_failing_the_model(holdout: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # a real refused connection: nothing listens there
    with pytest.raises(GateError, match=rf"v1 at {url} is unreachable .*is its server running\?"):
        run_gates(Gates(), baseline="v1", candidate="v2", urls={"v1": url, "v2": url}, holdout=holdout)


def test_a_version_without_a_url_is_refused(holdout: Path) -> None:
    with pytest.raises(GateError, match=r"no server URL for the candidate 'v2'; have v1"):
        run_gates(Gates(), baseline="v1", candidate="v2", urls={"v1": "http://127.0.0.1:1"}, holdout=holdout)
