"""The prediction API of a real `bentoml serve`: the contract, feedback counted in Prometheus metrics, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rolloutlab import zoo
from rolloutlab.targets.processes import http_ok
from rolloutlab.zoo.server import ModelServer, start_server
from tests.integration.conftest import lab_processes


@pytest.fixture(scope="module")
def server(lab_home: Path, built_models: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    # One server for the module; like the `home` fixture, check nothing of the lab home runs before and after.
    assert lab_processes(lab_home) == []
    started = start_server(zoo.load_catalogue(), "v2", tmp_path_factory.mktemp("api-server"))
    try:
        deadline = time.monotonic() + 120
        while not http_ok(started.url + "/readyz"):
            assert time.monotonic() < deadline, f"v2 not ready; log {started.record.log}"
            time.sleep(0.2)
        yield started
    finally:
        started.stop()
        leftovers = lab_processes(lab_home)
        for process in leftovers:
            process.kill()
        assert leftovers == [], f"processes left running: {[p.info['cmdline'] for p in leftovers]}"


@pytest.fixture(scope="module")
def rows(server: ModelServer) -> list[dict]:
    return json.loads(zoo.holdout_path().read_text(encoding="utf-8"))


def metric(server: ModelServer, name: str, **labels: str) -> float:
    """Sum of a /metrics series' samples whose labels include `labels` (0 when absent)."""
    total = 0.0
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_predict_answers_predictions_version_and_request_id(server: ModelServer, rows: list[dict]) -> None:
    response = requests.post(server.url + "/predict", json={"instances": [r["features"] for r in rows[:3]]}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "v2" and response.headers["x-model-version"] == "v2"
    assert body["request_id"] == response.headers["x-request-id"] and len(body["request_id"]) >= 8
    assert body["predictions"] == [r["label"] for r in rows[:3]]  # v2 is 99.4 % accurate; these three are right
    assert set(body) == {"predictions", "version", "request_id"}


def test_a_callers_request_id_is_kept(server: ModelServer, rows: list[dict]) -> None:
    response = requests.post(server.url + "/predict", json={"instances": [rows[0]["features"]]},
                             headers={"x-request-id": "trace-0001-abcd"}, timeout=10)
    assert response.json()["request_id"] == response.headers["x-request-id"] == "trace-0001-abcd"


def test_feedback_is_counted_per_version_in_metrics(server: ModelServer, rows: list[dict]) -> None:
    before = {kind: metric(server, "rolloutlab_feedback_total", model_version="v2", kind=kind)
              for kind in ("label", "reward")}
    reward_before = metric(server, "rolloutlab_reward_total", model_version="v2")

    def predict(batch: list[dict]) -> str:
        return requests.post(server.url + "/predict", json={"instances": [r["features"] for r in batch]},
                             timeout=10).json()["request_id"]

    right = requests.post(server.url + "/feedback", json={"request_id": predict(rows[:1]), "label": rows[0]["label"]},
                          timeout=10)
    assert right.status_code == 200 and right.json()["reward"] == 1.0
    wrong_label = (rows[1]["label"] + 1) % 10
    wrong = requests.post(server.url + "/feedback", json={"request_id": predict(rows[1:2]), "label": wrong_label},
                          timeout=10)
    assert wrong.json()["reward"] == 0.0
    batch = requests.post(server.url + "/feedback", timeout=10, json={
        "request_id": predict(rows[2:6]), "labels": [r["label"] for r in rows[2:6]]})
    assert batch.json() == {"version": "v2", "request_id": batch.json()["request_id"], "kind": "label",
                            "rows": 4, "reward": 4.0}
    reward = requests.post(server.url + "/feedback", json={"request_id": predict(rows[6:7]), "reward": 0.25},
                           timeout=10)
    assert reward.status_code == 200 and reward.headers["x-model-version"] == "v2"
    by_version = requests.post(server.url + "/feedback", json={"version": "v2", "reward": 0.5}, timeout=10)
    assert by_version.status_code == 200

    assert metric(server, "rolloutlab_feedback_total", model_version="v2", kind="label") == before["label"] + 6
    assert metric(server, "rolloutlab_feedback_total", model_version="v2", kind="reward") == before["reward"] + 2
    assert metric(server, "rolloutlab_reward_total", model_version="v2") == reward_before + 1 + 0 + 4 + 0.25 + 0.5


def test_feedback_for_unknown_repeated_or_misrouted_requests_is_refused(server: ModelServer, rows: list[dict]) -> None:
    request_id = requests.post(server.url + "/predict", json={"instances": [rows[0]["features"]]},
                               timeout=10).json()["request_id"]
    first = requests.post(server.url + "/feedback", json={"request_id": request_id, "label": 1}, timeout=10)
    assert first.status_code == 200
    again = requests.post(server.url + "/feedback", json={"request_id": request_id, "label": 1}, timeout=10)
    assert again.status_code == 409 and again.json()["reason"] == "duplicate_feedback"
    unknown = requests.post(server.url + "/feedback", json={"request_id": "never-issued-0000", "label": 1}, timeout=10)
    assert unknown.status_code == 404
    assert unknown.json()["reason"] == "unknown_request" and "never-issued-0000" in unknown.json()["error"]
    elsewhere = requests.post(server.url + "/feedback", json={"version": "v1", "reward": 1}, timeout=10)
    assert elsewhere.status_code == 400 and "serves version 'v2', not 'v1'" in elsewhere.json()["error"]
    two_rows = requests.post(server.url + "/predict", json={"instances": [r["features"] for r in rows[:2]]},
                             timeout=10).json()["request_id"]
    one_label = requests.post(server.url + "/feedback", json={"request_id": two_rows, "label": 1}, timeout=10)
    assert one_label.status_code == 400 and 'send "labels" with 2 label(s)' in one_label.json()["error"]


ROW = "[" + ",".join(["1"] * 64) + "]"
BAD_INPUTS = [
    ("/predict", b"{not json", 400, "malformed_json"),
    ("/predict", b"", 400, "malformed_json"),
    ("/predict", b'{"instances": [[NaN' + b",0" * 63 + b"]]}", 400, "non_finite"),
    ("/predict", b'{"instances": [[1e999' + b",0" * 63 + b"]]}", 400, "non_finite"),
    ("/predict", b'{"rows": []}', 400, "unknown_field"),
    ("/predict", b'{"instances": [1, 2]}', 400, "bad_shape"),
    ("/predict", b'{"instances": [[1, 2, 3]]}', 400, "wrong_feature_count"),
    ("/predict", b'{"instances": [["a"' + b",0" * 63 + b"]]}", 400, "bad_type"),
    ("/predict", ('{"instances": [' + ",".join([ROW] * 65) + "]}").encode(), 413, "too_many_rows"),
    ("/predict", b'{"instances": "' + b"x" * (2 * 1024 * 1024) + b'"}', 413, "body_too_large"),
    ("/feedback", b'{"request_id": "abc"}', 400, "bad_feedback"),
    ("/feedback", b"[]", 400, "bad_shape"),
]


def test_bad_input_gets_a_4xx_json_naming_the_problem_and_is_counted(server: ModelServer) -> None:
    before = {reason: metric(server, "rolloutlab_bad_requests_total", model_version="v2", reason=reason)
              for _, _, _, reason in BAD_INPUTS}
    sent: dict[str, int] = {}
    for path, body, status, reason in BAD_INPUTS:
        response = requests.post(server.url + path, data=body, headers={"content-type": "application/json"},
                                 timeout=30)
        assert response.status_code == status, (path, body[:40], response.text[:200])
        payload = response.json()
        assert payload["reason"] == reason and payload["version"] == "v2" and payload["error"], payload
        assert response.headers["x-model-version"] == "v2"
        sent[reason] = sent.get(reason, 0) + 1
    for reason, count in sent.items():
        assert metric(server, "rolloutlab_bad_requests_total", model_version="v2", reason=reason) == before[reason] + count


def test_wrong_methods_and_content_types_never_get_a_500(server: ModelServer, rows: list[dict]) -> None:
    get = requests.get(server.url + "/predict", timeout=10)
    assert get.status_code == 405 and get.json()["reason"] == "method_not_allowed"
    form = requests.post(server.url + "/predict", data=json.dumps({"instances": [rows[0]["features"]]}),
                         headers={"content-type": "text/plain"}, timeout=10)
    assert form.status_code == 200  # the body is JSON whatever the client calls it
    assert metric(server, "bentoml_service_request_total", endpoint="/predict", http_response_code="500") == 0
