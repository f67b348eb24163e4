"""The prediction API of a real `bentoml serve`: the contract, feedback counted in Prometheus metrics, bad input."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
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


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int, reason: str,
                      words: str) -> dict:
    """A model server's error answer: the status, JSON, the reason, words naming the problem, version, request id."""
    assert (status, headers.get("content-type")) == (expected, "application/json"), (status, headers, body[:300])
    error = json.loads(body)
    assert error["reason"] == reason and words in error["error"], error
    assert error["version"] == headers["x-model-version"] == "v2" and error["request_id"] == headers["x-request-id"]
    return error


def good_request_answers(server: ModelServer, rows: list[dict]) -> None:
    response = requests.post(server.url + "/predict", json={"instances": [rows[0]["features"]]}, timeout=10)
    assert response.status_code == 200 and response.json()["predictions"] == [rows[0]["label"]]


def test_wrong_methods_and_content_types_never_get_a_500(server: ModelServer, rows: list[dict]) -> None:
    get = requests.get(server.url + "/predict", timeout=10)
    assert get.status_code == 405 and get.json()["reason"] == "method_not_allowed" and get.headers["allow"] == "POST"
    assert metric(server, "bentoml_service_request_total", endpoint="/predict", http_response_code="500") == 0


# Decision: strict. text/plain, form and multipart bodies (and bodies without a type) are what a web page
# may POST to any origin, 127.0.0.1 too, without a CORS preflight; /feedback moves the rewards bandits act on.
NOT_JSON_TYPES = [("text/plain", "content-type 'text/plain'"),
                  ("application/x-www-form-urlencoded", "content-type 'application/x-www-form-urlencoded'"),
                  ("multipart/form-data; boundary=x", "content-type 'multipart/form-data; boundary=x'"),
                  (None, "no content-type")]


@pytest.mark.parametrize("path", ["/predict", "/feedback"])
def test_a_body_not_declared_json_gets_415_naming_the_accepted_types(server: ModelServer, rows: list[dict],
                                                                     path: str) -> None:
    before = metric(server, "rolloutlab_bad_requests_total", model_version="v2", reason="unsupported_media_type")
    body = json.dumps({"instances": [rows[0]["features"]]} if path == "/predict" else {"version": "v2", "reward": 1})
    for content_type, named in NOT_JSON_TYPES:
        headers = {"content-type": content_type} if content_type else {}
        response = requests.post(server.url + path, data=body.encode(), headers=headers, timeout=10)
        if content_type is None:
            assert "content-type" not in response.request.headers
        assert_json_error(response.status_code, dict(response.headers), response.content, 415,
                          "unsupported_media_type", f"application/json (or application/*+json); got {named}")
    assert metric(server, "rolloutlab_bad_requests_total", model_version="v2",
                  reason="unsupported_media_type") == before + len(NOT_JSON_TYPES)
    charset = requests.post(server.url + path, data=body.encode(),
                            headers={"content-type": "application/json; charset=utf-8"}, timeout=10)
    assert charset.status_code == 200
    good_request_answers(server, rows)


def post_with_urllib(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """urllib sends `Connection: close` and reads the answer only after sending its whole body."""
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_an_oversized_body_gets_a_json_413_not_a_reset(server: ModelServer, rows: list[dict]) -> None:
    """Before the fix, the server answered 413 and closed with the body unread: the client saw a TCP reset."""
    for size in (2 << 20, 20 << 20, 100 << 20):
        status, headers, body = post_with_urllib(server.url + "/predict", b"x" * size)
        assert_json_error(status, headers, body, 413, "body_too_large", f"the body has {size} bytes; at most 1048576")
    chunks = (b"x" * 65536 for _ in range(320))  # 20 MiB without a content-length: over the limit while streaming
    streamed = requests.post(server.url + "/feedback", data=chunks, headers={"content-type": "application/json"},
                             timeout=30)
    assert_json_error(streamed.status_code, dict(streamed.headers), streamed.content, 413, "body_too_large",
                      "the body is over 1048576 bytes")
    good_request_answers(server, rows)


def test_the_413_comes_before_the_body_is_read_and_the_connection_closes_cleanly(server: ModelServer,
                                                                                   rows: list[dict]) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    declared = 50 << 20
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {declared}\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + b"x" * 65536)
        first = sock.recv(65536)  # the answer, while 50 MiB minus 64 KiB are still unsent
        assert first.startswith(b"HTTP/1.1 413 "), first[:200]
        sent = 65536
        while sent < declared:  # a client that sends everything anyway is read to the end, not reset
            sock.sendall(b"x" * (1 << 20))
            sent += 1 << 20
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    head_part, _, body = (first + rest).partition(b"\r\n\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head_part.decode().split("\r\n")[1:])}
    assert_json_error(413, headers, body, 413, "body_too_large", f"the body has {declared} bytes; at most 1048576")
    # A client that waits for "100 Continue" is answered at once and never asked for the body.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"Expect: 100-continue\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer and b'"body_too_large"' in answer
    good_request_answers(server, rows)


UNKNOWN_ROUTES = [  # method, path, status, reason
    ("GET", "/nope", 404, "not_found"),
    ("POST", "/predict/extra", 404, "not_found"),
    ("PUT", "/v1/predict", 404, "not_found"),
    ("FOO", "/predict", 405, "method_not_allowed"),
    ("TRACE", "/feedback", 405, "method_not_allowed"),
    ("POST", "/livez", 405, "method_not_allowed"),
    ("DELETE", "/metrics", 405, "method_not_allowed"),
]


def test_unknown_paths_and_methods_get_a_json_404_or_405(server: ModelServer, rows: list[dict]) -> None:
    before = metric(server, "rolloutlab_bad_requests_total", model_version="v2", reason="not_found")
    for method, path, status, reason in UNKNOWN_ROUTES:
        response = requests.request(method, server.url + path, timeout=10)
        error = assert_json_error(response.status_code, dict(response.headers), response.content, status, reason,
                                  f"{method} {path}: ")
        assert "POST /predict and POST /feedback" in error["error"]
        if status == 405:
            allowed = {"POST"} if path in ("/predict", "/feedback") else {"GET", "HEAD"}
            assert set(response.headers["allow"].split(", ")) == allowed, response.headers
    assert metric(server, "rolloutlab_bad_requests_total", model_version="v2", reason="not_found") == before + 3
    # An unknown path with a big body: answered before reading it, without a reset.
    status, headers, body = post_with_urllib(server.url + "/nope", b"x" * (20 << 20))
    assert_json_error(status, headers, body, 404, "not_found", "POST /nope: no such endpoint")
    good_request_answers(server, rows)
