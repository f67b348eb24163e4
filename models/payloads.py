"""Parse and check the JSON bodies of /predict and /feedback; every problem is a BadInput naming where it is.

Pure functions (no BentoML, no Starlette), so the rules are unit-tested directly.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class BadInput(ValueError):
    """A client error: answered with `status`, a JSON body with `message`, and counted under `reason`."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


JSON_TYPES = ("application/json", "application/*+json")


def check_content_type(header: str) -> None:
    """Refuse (415) a body not declared as JSON: application/json or application/<anything>+json.

    Not lenient on purpose: text/plain, form and multipart bodies (and bodies with no type) are what a
    web page may POST to another origin, 127.0.0.1 included, without a CORS preflight. Requiring a JSON
    type keeps any page a browser opens from posting /feedback (rewards that bandits act on) or load.
    """
    media = header.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if media == "application/json" or (kind == "application" and subtype.endswith("+json") and subtype != "+json"):
        return
    given = f"content-type {header.strip()!r}" if header.strip() else "no content-type"
    raise BadInput(415, "unsupported_media_type", f"the body must be JSON sent as content-type application/json "
                                                  f"(or application/*+json); got {given}")


def _no_constants(name: str) -> float:
    raise BadInput(400, "non_finite", f"{name} is not a valid JSON number (NaN and Infinity are not allowed)")


def parse_json(body: bytes) -> Any:
    """The body as JSON; Python's NaN/Infinity extensions are rejected like any other invalid number."""
    if not body.strip():
        raise BadInput(400, "malformed_json", "the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(400, "malformed_json", "the request body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise BadInput(400, "malformed_json", f"the request body is not valid JSON: {exc.msg} "
                                              f"at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadInput(400, "malformed_json", "the request body nests JSON arrays/objects too deeply") from None


def _object(payload: Any, expected: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadInput(400, "bad_shape", f"the body must be a JSON object like {expected}, got {type(payload).__name__}")
    return payload


def _only(payload: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise BadInput(400, "unknown_field", f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                             f"allowed: {', '.join(allowed)}")


def parse_predict(payload: Any, max_batch: int, n_features: int) -> list[list[float]]:
    """`{"instances": [[n_features numbers], ...]}` (1..max_batch rows) → the rows, all finite numbers."""
    body = _object(payload, '{"instances": [[...], ...]}')
    _only(body, ("instances",))
    if "instances" not in body:
        raise BadInput(400, "bad_shape", 'missing field "instances": a list of rows, each a list of '
                                         f"{n_features} numbers")
    rows = body["instances"]
    if not isinstance(rows, list):
        raise BadInput(400, "bad_shape", f"instances must be a list of rows, got {type(rows).__name__}")
    if not rows:
        raise BadInput(400, "bad_shape", "instances is empty; send at least one row")
    if len(rows) > max_batch:
        raise BadInput(413, "too_many_rows", f"instances has {len(rows)} rows; at most {max_batch} per request")
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise BadInput(400, "bad_shape", f"instances[{index}] must be a list of {n_features} numbers, "
                                             f"got {type(row).__name__}")
        if len(row) != n_features:
            raise BadInput(400, "wrong_feature_count", f"instances[{index}] has {len(row)} features; "
                                                       f"expected {n_features}")
        for column, value in enumerate(row):
            if type(value) not in (int, float):  # bool is an int subclass: excluded on purpose
                raise BadInput(400, "bad_type", f"instances[{index}][{column}] is {json.dumps(value)}, not a number")
            if not math.isfinite(value):
                raise BadInput(400, "non_finite", f"instances[{index}][{column}] is not a finite number")
    return rows


@dataclass(frozen=True)
class Feedback:
    """One feedback message: for a remembered request (labels or a reward), or for the version (a reward)."""

    request_id: str | None
    version: str | None
    labels: tuple[int, ...] | None
    reward: float | None
    # The predictions the client was answered (its copy of the /predict body): another replica of the
    # version, which never saw the request, can still count the labels against them.
    answered: tuple[int, ...] | None = None

    @property
    def kind(self) -> str:
        return "label" if self.labels is not None else "reward"


def _label(value: Any, where: str, n_classes: int) -> int:
    if type(value) is not int or not 0 <= value < n_classes:
        raise BadInput(400, "bad_feedback", f"{where} must be a class label, an integer 0..{n_classes - 1}; "
                                            f"got {json.dumps(value)}")
    return value


def parse_feedback(payload: Any, n_classes: int) -> Feedback:
    """{"request_id", "label" | "labels" | "reward", optional "predictions"} or {"version", "reward"}."""
    body = _object(payload, '{"request_id": "...", "label": 3}')
    _only(body, ("request_id", "version", "label", "labels", "reward", "predictions"))
    request_id, version = body.get("request_id"), body.get("version")
    if (request_id is None) == (version is None):
        raise BadInput(400, "bad_feedback", 'give exactly one of "request_id" (from a /predict response) or '
                                            '"version" (a reward for the version as a whole)')
    given = [key for key in ("label", "labels", "reward") if key in body]
    if len(given) != 1:
        raise BadInput(400, "bad_feedback", 'give exactly one of "label", "labels" or "reward"')
    if request_id is not None and (not isinstance(request_id, str) or not REQUEST_ID.match(request_id)):
        raise BadInput(400, "bad_feedback", f"request_id {json.dumps(request_id)} is not a request id "
                                            "(8-128 letters, digits or ._:-)")
    if version is not None:
        if not isinstance(version, str):
            raise BadInput(400, "bad_feedback", f"version must be a string, got {json.dumps(version)}")
        if given != ["reward"]:
            raise BadInput(400, "bad_feedback", "feedback for a version carries a reward; labels need the request_id")
    labels: tuple[int, ...] | None = None
    reward: float | None = None
    if "label" in body:
        labels = (_label(body["label"], "label", n_classes),)
    elif "labels" in body:
        if not isinstance(body["labels"], list) or not body["labels"]:
            raise BadInput(400, "bad_feedback", "labels must be a non-empty list of class labels, one per row")
        labels = tuple(_label(v, f"labels[{i}]", n_classes) for i, v in enumerate(body["labels"]))
    else:
        value = body["reward"]
        if type(value) not in (int, float) or not math.isfinite(value):
            raise BadInput(400, "bad_feedback", f"reward must be a finite number, got {json.dumps(value)}")
        reward = float(value)
    answered: tuple[int, ...] | None = None
    if "predictions" in body:
        if labels is None:
            raise BadInput(400, "bad_feedback", '"predictions" go with "label" or "labels" (the answer they judge)')
        given_predictions = body["predictions"]
        if not isinstance(given_predictions, list) or len(given_predictions) != len(labels):
            raise BadInput(400, "bad_feedback", f'"predictions" must list the {len(labels)} prediction(s) of the '
                                                "/predict answer, one per label")
        answered = tuple(_label(v, f"predictions[{i}]", n_classes) for i, v in enumerate(given_predictions))
    return Feedback(request_id, version, labels, reward, answered)
