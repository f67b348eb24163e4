"""API contract gate: good rows get a valid answer from the candidate, bad bodies a 4xx with a JSON error."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rolloutlab.gates.client import Answer, post
from rolloutlab.gates.holdout import Holdout
from rolloutlab.gates.result import GateResult

NAME = "contract"
MAX_BATCH = 64
N_CLASSES = 10


@dataclass(frozen=True)
class Case:
    """One request of the contract: its body, and how many rows a good one carries (None: must be refused)."""

    key: str
    label: str
    body: bytes
    rows: int | None = None

    @property
    def good(self) -> bool:
        return self.rows is not None


def cases(holdout: Holdout) -> list[Case]:
    """The good and bad bodies, built from real held-out rows so that only the intended flaw differs."""
    row = holdout.features[0]
    full = [holdout.features[i % len(holdout)] for i in range(MAX_BATCH)]

    def instances(rows: object) -> bytes:
        return json.dumps({"instances": rows}).encode()

    return [
        Case("one_row", "one row", instances([row]), 1),
        Case("max_batch", f"{MAX_BATCH} rows (the batch limit)", instances(full), MAX_BATCH),
        Case("not_json", "a body that is not JSON", b"{not json"),
        Case("missing_instances", 'no "instances" field', b"{}"),
        Case("wrong_row_length", f"a row of {len(row) - 1} features", instances([row[:-1]])),
        Case("non_numeric", "a non-numeric feature", instances([["a", *row[1:]]])),
        Case("too_many_rows", f"{MAX_BATCH + 1} rows", instances([*full, row])),
        Case("empty_instances", "an empty instances list", instances([])),
    ]


def check(case: Case, answer: Answer, version: str) -> str:
    """What is wrong with the answer to one case ("" when it keeps the contract; pure)."""
    got = f"HTTP {answer.status}" if answer.status else answer.text or "no answer"
    if not case.good:
        if not 400 <= answer.status < 500:
            return f"{got}, expected a 4xx" + (": a bad body was accepted" if answer.status == 200 else "")
        if not isinstance(answer.body, dict) or not isinstance(answer.body.get("error"), str) \
                or not answer.body["error"]:
            return f"{got} without a JSON body naming the problem (\"error\"): {answer.text[:60]!r}"
        return ""
    if answer.status != 200:
        return f"{got}, expected 200" + (f" ({answer.body.get('reason')})" if isinstance(answer.body, dict)
                                         and answer.body.get("reason") else "")
    body = answer.body
    if not isinstance(body, dict):
        return f"200 but the body is not a JSON object: {answer.text[:60]!r}"
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != case.rows:
        return f"200 but predictions is not a list of {case.rows}: {str(predictions)[:60]}"
    wrong = [p for p in predictions if type(p) is not int or not 0 <= p < N_CLASSES]
    if wrong:
        return f"200 but predictions holds {wrong[0]!r}, not a class 0..{N_CLASSES - 1}"
    for key in ("version", "request_id"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"200 but the body has no {key!r} string"
    if body["version"] != version:
        return f"200 but the body says version {body['version']!r}, expected {version!r}"
    header = answer.headers.get("x-model-version")
    if header != version:
        return f"200 but the x-model-version header is {header!r}, expected {version!r}"
    return ""


def judge(outcomes: list[tuple[Case, Answer, str]]) -> GateResult:
    """Pass when every case kept the contract; the summary names each case that did not (pure)."""
    numbers: dict[str, float | int | str | None] = {"cases": len(outcomes)}
    for case, answer, _ in outcomes:
        numbers[f"status_{case.key}"] = answer.status
    broken = [(case, problem) for case, _, problem in outcomes if problem]
    numbers["failed"] = len(broken)
    if not outcomes:
        return GateResult(NAME, False, "no contract case was run", numbers)
    if broken:
        detail = "; ".join(f"{case.label} → {problem}" for case, problem in broken)
        return GateResult(NAME, False, f"{len(broken)} of {len(outcomes)} cases broke the contract: {detail}", numbers)
    good = [a.status for c, a, _ in outcomes if c.good]
    bad = [a.status for c, a, _ in outcomes if not c.good]
    summary = (f"{len(outcomes)}/{len(outcomes)} cases kept the contract: {len(good)} good → 200 with valid "
               f"predictions, {len(bad)} bad → {', '.join(map(str, bad))} with a JSON error")
    return GateResult(NAME, True, summary, numbers)


def run(version: str, url: str, holdout: Holdout) -> GateResult:
    """Send every case once to the candidate's /predict and judge the answers."""
    outcomes = []
    for case in cases(holdout):
        answer = post(version, url.rstrip("/") + "/predict", case.body)
        outcomes.append((case, answer, check(case, answer, version)))
    return judge(outcomes)
