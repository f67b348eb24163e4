"""/predict and /feedback bodies: every bad input is a BadInput with a status, a reason and where it is."""

from __future__ import annotations

import pytest

from rolloutlab.zoo.scripts import load_script

payloads = load_script("payloads")
request_memory = load_script("request_memory")
BadInput = payloads.BadInput

ROW = [0.0] * 64


def bad(callable_, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(BadInput) as caught:
        callable_(*args)
    return caught.value


def test_a_valid_batch_passes_through() -> None:
    row = b"[" + b",".join([b"1"] * 64) + b"]"
    rows = payloads.parse_predict(payloads.parse_json(b'{"instances": [' + b",".join([row] * 3) + b"]}"), 64, 64)
    assert len(rows) == 3 and rows[0] == [1] * 64


@pytest.mark.parametrize(
    ("body", "status", "reason", "words"),
    [
        (b"", 400, "malformed_json", "empty"),
        (b"{bad", 400, "malformed_json", "line 1 column 2"),
        (b"\xff\xfe", 400, "malformed_json", "UTF-8"),
        (b'{"instances": [[NaN]]}', 400, "non_finite", "NaN"),
        (b'{"instances": [[-Infinity]]}', 400, "non_finite", "Infinity"),
        (b"[" * 200_000 + b"]" * 200_000, 400, "malformed_json", "too deeply"),
    ],
)
def test_bodies_that_are_not_json_are_named(body: bytes, status: int, reason: str, words: str) -> None:
    error = bad(payloads.parse_json, body)
    assert (error.status, error.reason) == (status, reason) and words in error.message


@pytest.mark.parametrize(
    ("payload", "status", "reason", "words"),
    [
        ([ROW], 400, "bad_shape", "must be a JSON object"),
        ({}, 400, "bad_shape", 'missing field "instances"'),
        ({"instances": ROW, "extra": 1}, 400, "unknown_field", "'extra'"),
        ({"instances": "rows"}, 400, "bad_shape", "instances must be a list"),
        ({"instances": []}, 400, "bad_shape", "instances is empty"),
        ({"instances": [ROW] * 65}, 413, "too_many_rows", "65 rows; at most 64"),
        ({"instances": [ROW, 5]}, 400, "bad_shape", "instances[1] must be a list"),
        ({"instances": [ROW[:10]]}, 400, "wrong_feature_count", "instances[0] has 10 features; expected 64"),
        ({"instances": [ROW, [*ROW, 1.0]]}, 400, "wrong_feature_count", "instances[1] has 65"),
        ({"instances": [[*ROW[:5], "7", *ROW[6:]]]}, 400, "bad_type", 'instances[0][5] is "7", not a number'),
        ({"instances": [[True, *ROW[1:]]]}, 400, "bad_type", "instances[0][0] is true"),
        ({"instances": [[None, *ROW[1:]]]}, 400, "bad_type", "instances[0][0] is null"),
        ({"instances": [[*ROW[:63], float("inf")]]}, 400, "non_finite", "instances[0][63] is not a finite number"),
    ],
)
def test_predict_payload_problems_are_named(payload: object, status: int, reason: str, words: str) -> None:
    error = bad(payloads.parse_predict, payload, 64, 64)
    assert (error.status, error.reason) == (status, reason)
    assert words in error.message, error.message


def test_overflowing_numbers_count_as_not_finite() -> None:
    payload = payloads.parse_json(b'{"instances": [[1e999' + b", 0" * 63 + b"]]}")
    assert bad(payloads.parse_predict, payload, 64, 64).reason == "non_finite"


def test_feedback_forms() -> None:
    label = payloads.parse_feedback({"request_id": "abcdef123456", "label": 3}, 10)
    assert (label.kind, label.labels, label.reward) == ("label", (3,), None)
    batch = payloads.parse_feedback({"request_id": "abcdef123456", "labels": [1, 2]}, 10)
    assert batch.labels == (1, 2)
    reward = payloads.parse_feedback({"request_id": "abcdef123456", "reward": 0.25}, 10)
    assert (reward.kind, reward.reward) == ("reward", 0.25)
    version = payloads.parse_feedback({"version": "v2", "reward": 1}, 10)
    assert (version.version, version.request_id, version.reward) == ("v2", None, 1.0)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"label": 3}, 'exactly one of "request_id"'),
        ({"request_id": "abcdef123456", "version": "v2", "reward": 1}, 'exactly one of "request_id"'),
        ({"request_id": "abcdef123456"}, 'exactly one of "label", "labels" or "reward"'),
        ({"request_id": "abcdef123456", "label": 1, "reward": 1}, 'exactly one of "label"'),
        ({"request_id": "short", "label": 1}, "is not a request id"),
        ({"request_id": 12345678, "label": 1}, "is not a request id"),
        ({"request_id": "abcdef123456", "label": 10}, "integer 0..9"),
        ({"request_id": "abcdef123456", "label": 1.0}, "integer 0..9"),
        ({"request_id": "abcdef123456", "labels": []}, "non-empty list"),
        ({"request_id": "abcdef123456", "labels": [1, -1]}, "labels[1] must be a class label"),
        ({"request_id": "abcdef123456", "reward": "1"}, "reward must be a finite number"),
        ({"request_id": "abcdef123456", "reward": float("nan")}, "reward must be a finite number"),
        ({"version": "v2", "label": 1}, "labels need the request_id"),
        ({"version": 2, "reward": 1}, "version must be a string"),
    ],
)
def test_feedback_problems_are_named(payload: dict, words: str) -> None:
    error = bad(payloads.parse_feedback, payload, 10)
    assert error.status == 400 and error.reason == "bad_feedback", error.reason
    assert words in error.message, error.message


def test_unknown_feedback_fields_are_refused() -> None:
    error = bad(payloads.parse_feedback, {"request_id": "abcdef123456", "label": 1, "lable": 1}, 10)
    assert error.reason == "unknown_field" and "'lable'" in error.message


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_request_memory_forgets_after_its_ttl() -> None:
    clock = Clock()
    memory = request_memory.RequestMemory(max_entries=10, ttl_seconds=60, clock=clock)
    memory.remember("old", (1,))
    clock.now += 30
    memory.remember("new", (2,))
    clock.now += 31  # "old" is 61 s old, "new" 31 s
    with pytest.raises(request_memory.UnknownRequest):
        memory.lookup("old")
    assert memory.lookup("new").predictions == (2,)
    assert len(memory) == 1


def test_request_memory_keeps_at_most_max_entries_dropping_the_oldest() -> None:
    memory = request_memory.RequestMemory(max_entries=3, ttl_seconds=600, clock=Clock())
    for index in range(5):
        memory.remember(f"r{index}", (index,))
    assert len(memory) == 3
    with pytest.raises(request_memory.UnknownRequest):
        memory.lookup("r1")
    assert memory.lookup("r4").predictions == (4,)


def test_feedback_for_a_request_counts_once() -> None:
    memory = request_memory.RequestMemory(max_entries=3, ttl_seconds=600, clock=Clock())
    memory.remember("r1", (7,))
    memory.lookup("r1").used = True
    with pytest.raises(request_memory.FeedbackAlreadyGiven):
        memory.lookup("r1")


@pytest.mark.parametrize("header", ["application/json", "application/json; charset=utf-8", " Application/JSON ",
                                    "application/problem+json"])
def test_json_content_types_are_accepted(header: str) -> None:
    payloads.check_content_type(header)


@pytest.mark.parametrize(("header", "words"), [
    ("text/plain", "got content-type 'text/plain'"),
    ("application/x-www-form-urlencoded", "got content-type 'application/x-www-form-urlencoded'"),
    ("multipart/form-data; boundary=x", "got content-type 'multipart/form-data; boundary=x'"),
    ("", "got no content-type"),
    ("application/+json", "got content-type 'application/+json'"),
    ("text/json", "got content-type 'text/json'"),
])
def test_other_content_types_are_refused_with_the_accepted_ones(header: str, words: str) -> None:
    error = bad(payloads.check_content_type, header)
    assert (error.status, error.reason) == (415, "unsupported_media_type")
    assert words in error.message and "application/json" in error.message


def test_feedback_may_carry_the_answer_it_judges_one_prediction_per_label() -> None:
    message = payloads.parse_feedback({"request_id": "abcdef123456", "labels": [3, 4], "predictions": [3, 9]}, 10)
    assert message.answered == (3, 9)
    for payload, words in [
        ({"request_id": "abcdef123456", "label": 3, "predictions": [3, 9]}, "one per label"),
        ({"request_id": "abcdef123456", "label": 3, "predictions": [12]}, "predictions[0] must be a class label"),
        ({"request_id": "abcdef123456", "reward": 1, "predictions": [3]}, '"predictions" go with "label"'),
    ]:
        error = bad(payloads.parse_feedback, payload, 10)
        assert error.status == 400 and words in error.message, error.message
