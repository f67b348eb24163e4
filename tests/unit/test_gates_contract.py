"""The contract gate's cases and its judgement of each answer."""

from __future__ import annotations

import json

import pytest

from rolloutlab.gates.client import Answer
from rolloutlab.gates.contract import Case, cases, check, judge
from rolloutlab.gates.holdout import Holdout

HOLDOUT = Holdout([[float(i % 16)] * 64 for i in range(10)], list(range(10)))
ONE = Case("one_row", "one row", b"{}", 1)
BAD = Case("not_json", "a body that is not JSON", b"{not json")
HEADERS = {"x-model-version": "v2", "x-request-id": "abcdef0123"}


def ok(predictions: object, version: str = "v2", headers: dict[str, str] | None = None, **extra: object) -> Answer:
    body = {"predictions": predictions, "version": version, "request_id": "abcdef0123", **extra}
    return Answer(200, 0.003, HEADERS if headers is None else headers, body, json.dumps(body))


def refused(status: int, body: object = None) -> Answer:
    body = {"error": "the request body is not valid JSON", "reason": "malformed_json"} if body is None else body
    return Answer(status, 0.002, HEADERS, body if not isinstance(body, bytes) else None, str(body))


def test_cases_differ_from_a_good_request_only_in_their_flaw() -> None:
    built = {case.key: case for case in cases(HOLDOUT)}
    assert [k for k, c in built.items() if c.good] == ["one_row", "max_batch"]
    assert len(json.loads(built["max_batch"].body)["instances"]) == 64
    assert len(json.loads(built["too_many_rows"].body)["instances"]) == 65
    assert [len(r) for r in json.loads(built["wrong_row_length"].body)["instances"]] == [63]
    assert json.loads(built["non_numeric"].body)["instances"][0][0] == "a"
    assert json.loads(built["missing_instances"].body) == {}
    assert json.loads(built["empty_instances"].body) == {"instances": []}
    with pytest.raises(ValueError):
        json.loads(built["not_json"].body)


@pytest.mark.parametrize(("case", "answer", "problem"), [
    (ONE, ok([3]), ""),
    (ONE, refused(503, {"error": "v2 failed this request", "reason": "injected_fault"}),
     "HTTP 503, expected 200 (injected_fault)"),
    (ONE, Answer(0, 30.0, text="no answer within 30s"), "no answer within 30s, expected 200"),
    (ONE, Answer(200, 0.01, HEADERS, None, "<html>"), "200 but the body is not a JSON object"),
    (ONE, ok([3, 4]), "200 but predictions is not a list of 1"),
    (ONE, ok([10]), "200 but predictions holds 10, not a class 0..9"),
    (ONE, ok([True]), "200 but predictions holds True"),
    (ONE, ok(["3"]), "200 but predictions holds '3'"),
    (ONE, ok([3], version="v1", headers={"x-model-version": "v1"}), "the body says version 'v1', expected 'v2'"),
    (ONE, ok([3], headers={}), "the x-model-version header is None, expected 'v2'"),
    (ONE, Answer(200, 0.01, HEADERS, {"predictions": [3], "version": "v2"}), "the body has no 'request_id' string"),
    (BAD, refused(400), ""),
    (BAD, refused(413, {"error": "instances has 65 rows; at most 64", "reason": "too_many_rows"}), ""),
    (BAD, ok([3]), "HTTP 200, expected a 4xx: a bad body was accepted"),
    (BAD, refused(500, {"error": "Internal Server Error"}), "HTTP 500, expected a 4xx"),
    (BAD, refused(400, b"Bad Request"), "HTTP 400 without a JSON body naming the problem"),
    (BAD, refused(422, {"detail": "x"}), "HTTP 422 without a JSON body naming the problem"),
])
def test_each_answer_is_checked_against_the_contract(case: Case, answer: Answer, problem: str) -> None:
    found = check(case, answer, "v2")
    assert (found == "") if problem == "" else (problem in found), found


def test_all_cases_kept_passes_with_the_statuses() -> None:
    outcomes = [(c, ok([1] * c.rows) if c.good else refused(413 if c.key == "too_many_rows" else 400), "")
                for c in cases(HOLDOUT)]
    result = judge(outcomes)
    assert result.passed
    assert result.summary == ("8/8 cases kept the contract: 2 good → 200 with valid predictions, "
                              "6 bad → 400, 400, 400, 400, 413, 400 with a JSON error")
    assert result.numbers["status_too_many_rows"] == 413 and result.numbers["failed"] == 0


def test_one_broken_case_fails_the_gate_naming_the_case() -> None:
    outcomes = [(c, refused(503) if c.key == "one_row" else refused(400), "") for c in cases(HOLDOUT)]
    outcomes = [(c, a, check(c, a, "v2")) for c, a, _ in outcomes]
    result = judge(outcomes)
    assert not result.passed
    assert result.summary == ("2 of 8 cases broke the contract: one row → HTTP 503, expected 200 (malformed_json); "
                              "64 rows (the batch limit) → HTTP 400, expected 200 (malformed_json)")
    assert result.numbers["failed"] == 2 and result.numbers["status_one_row"] == 503


def test_no_cases_is_never_a_pass() -> None:
    assert not judge([]).passed
