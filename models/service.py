"""The model server: one BentoML service per version, with its build-time faults baked into build.json.

    POST /predict   {"instances": [[64 numbers], ...]}  → {"predictions": [...], "version", "request_id"}
    POST /feedback  {"request_id", "label"|"labels"|"reward"[, "predictions"]} or {"version", "reward"}
                    → counted in metrics; "predictions" (the client's copy of the answer) lets a replica
                    that did not answer the request count its labels

Both answer JSON with `x-model-version` and `x-request-id` headers; bad input is a 4xx whose body names
the problem, counted in `rolloutlab_bad_requests_total{reason}`: a body not sent as application/json is
a 415, one over max_body_kib a 413 answered before it is read (request_body.py), an unknown path or
method a 404/405 (json_errors.py). The two routes are a Starlette app mounted on the BentoML service
(not @bentoml.api) so that the server, not the framework, words every error, including bodies that are
not JSON at all; BentoML still serves them, probes, and measures them in `bentoml_service_request_*`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import bentoml
import joblib
import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from faults import FaultInjector
from prediction_log import PredictionLog
from json_errors import JSONErrorsMiddleware
from payloads import REQUEST_ID, BadInput, Feedback, check_content_type, parse_feedback, parse_json, parse_predict
from request_body import LingeringJSONResponse, RequestBody
from request_memory import FeedbackAlreadyGiven, Remembered, RequestMemory, UnknownRequest

# Written into the build context by models/build.py: this bento serves exactly one version.
BUILD: dict[str, Any] = json.loads((Path(__file__).parent / "build.json").read_text(encoding="utf-8"))
NAME = BUILD["name"]
N_FEATURES = int(BUILD["n_features"])
N_CLASSES = 10
SERVING: dict[str, Any] = BUILD["serving"]

# Fine buckets at the low end: a scikit-learn model answers in 1–5 ms and canary analysis compares p95s.
LATENCY_BUCKETS = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0]


class Telemetry:
    """The lab's own counters, exported on /metrics beside BentoML's.

    prometheus_client is imported here, in the worker, not at module import: BentoML sets
    PROMETHEUS_MULTIPROC_DIR during worker start-up, after importing this module, and prometheus_client
    picks single- or multi-process mode when first imported.
    """

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.feedback = Counter("rolloutlab_feedback", "Feedback messages (rows for labels) per version and kind",
                                ["model_version", "kind"])
        self.reward = Counter("rolloutlab_reward", "Sum of rewards per version (label feedback: 1 per correct "
                                                   "prediction)", ["model_version"])
        self.bad_requests = Counter("rolloutlab_bad_requests", "Requests answered 4xx, by reason",
                                    ["model_version", "reason"])
        # Summed over the live worker processes; analysis divides its growth by the requests served.
        self.resident = Gauge("rolloutlab_resident_memory_bytes", "Resident memory of the serving processes",
                              ["model_version"], multiprocess_mode="livesum")
        self.resident.labels(model_version=NAME).set(resident_bytes())
        # Series exist from the start, so rate() and increase() see the first feedback.
        for kind in ("label", "reward"):
            self.feedback.labels(model_version=NAME, kind=kind)
        self.reward.labels(model_version=NAME)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> float:
    """This process' resident set size (Linux /proc; elsewhere the peak, which grows the same way)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return float(int(statm.read().split()[1]) * _PAGE)
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


MIRROR_HEADER = "x-rolloutlab-mirror"  # set by the router on the copies it mirrors to a shadow version


def _headers(request_id: str) -> dict[str, str]:
    return {"x-model-version": NAME, "x-request-id": request_id}


def _request_id(request: Request) -> str:
    """The caller's x-request-id when it looks like one (traces line up), else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


def _error(service: DigitsClassifier, request_id: str, status: int, reason: str, message: str,
           extra_headers: dict[str, str] | None = None, body: RequestBody | None = None) -> JSONResponse:
    """The JSON error answer; lingering (see request_body.py) while the client may still be sending its body."""
    if 400 <= status < 500:
        service.telemetry.bad_requests.labels(model_version=NAME, reason=reason).inc()
    payload = {"error": message, "reason": reason, "version": NAME, "request_id": request_id}
    answer = LingeringJSONResponse if body is not None and body.unread else JSONResponse
    allow = {"allow": "POST"} if status == 405 else {}  # both endpoints take POST only
    return answer(payload, status_code=status, headers={**_headers(request_id), **allow, **(extra_headers or {})})


def _body(request: Request) -> RequestBody:
    return RequestBody(request, int(SERVING["max_body_kib"]) * 1024)


async def _read_json(request: Request, body: RequestBody) -> Any:
    """A POST's JSON body: other methods, non-JSON content types and bodies over the limit are refused unread."""
    if request.method != "POST":
        raise BadInput(405, "method_not_allowed", f"{request.method} {request.url.path}: use POST with a JSON body")
    check_content_type(request.headers.get("content-type", ""))
    try:
        return parse_json(await body.read())
    except ClientDisconnect:
        raise BadInput(400, "client_disconnect", "the client went away mid-body") from None


def _unknown_route(request: Request, status: int, allow: str | None) -> Response:
    """What the server answers for a path or method it does not serve (JSONErrorsMiddleware calls it)."""
    where = f"{request.method} {request.url.path}"
    if status == 405:
        reason, message = "method_not_allowed", f"{where}: method not allowed here"
    else:
        reason, message = "not_found", f"{where}: no such endpoint"
    message += "; this server answers POST /predict and POST /feedback"
    ours = request.url.path in ("/predict", "/feedback")
    headers = {"allow": allow} if allow and not ours else None  # BentoML's own routes (/livez, ...) say theirs
    return _error(bentoml.get_current_service(), _request_id(request), status, reason, message, headers,
                  body=_body(request))


async def predict(request: Request) -> JSONResponse:
    service: DigitsClassifier = bentoml.get_current_service()
    started = time.perf_counter()
    request_id, body = _request_id(request), _body(request)
    try:
        rows = parse_predict(await _read_json(request, body), int(SERVING["max_batch"]), N_FEATURES)
    except BadInput as exc:
        return _error(service, request_id, exc.status, exc.reason, exc.message, body=body)
    faults = service.faults
    if not faults.is_warm():
        wait = max(0.0, (faults.ready_at or 0.0) - time.monotonic())
        return _error(service, request_id, 503, "warming_up", f"{NAME} is still starting; ready in {wait:.0f}s",
                      {"retry-after": str(max(1, round(wait)))})
    status = faults.error_status()
    if status is not None:
        return _error(service, request_id, status, "injected_fault",
                      f"{NAME} failed this request (a build-time fault: {faults.describe()})")
    delay = faults.delay_seconds()
    if delay > 0:
        await asyncio.sleep(delay)  # async: a slow version stays slow, it does not also run out of threads
    predictions = tuple(int(p) for p in service.model.predict(np.asarray(rows, dtype=float)))
    service.memory.remember(request_id, predictions)
    faults.leak()
    service.telemetry.resident.labels(model_version=NAME).set(resident_bytes())
    service.log.prediction(request_id, predictions, (time.perf_counter() - started) * 1000,
                           request.headers.get("x-user-id"), request.headers.get(MIRROR_HEADER) == "1", features=rows)
    body = {"predictions": list(predictions), "version": NAME, "request_id": request_id}
    return JSONResponse(body, headers=_headers(request_id))


def _answered_request(memory: RequestMemory, message: Feedback) -> Remembered:
    """The request the feedback is about: this replica's memory, else the answer the client sends back.

    With several replicas of a version, feedback pinned to the version reaches any of them, but only
    the one that answered remembers the request. The client's copy of the answer lets the others
    count the labels; this replica then remembers the request as judged, so a repeat here counts once.
    (A repeat sent to yet another replica is not detected: replicas share no memory.)
    """
    try:
        return memory.lookup(message.request_id or "")
    except UnknownRequest:
        if message.answered is None:
            raise
        memory.remember(message.request_id or "", message.answered)
        return memory.lookup(message.request_id or "")


async def feedback(request: Request) -> JSONResponse:
    service: DigitsClassifier = bentoml.get_current_service()
    request_id, body = _request_id(request), _body(request)
    try:
        message = parse_feedback(await _read_json(request, body), N_CLASSES)
        if message.version is not None and message.version != NAME:
            raise BadInput(400, "wrong_version", f"this server serves version {NAME!r}, not {message.version!r}; "
                                                 "send the x-model-version header so the router picks it")
        rows, reward = 1, message.reward
        if message.request_id is not None:
            request_id = message.request_id
            entry = _answered_request(service.memory, message)
            if message.labels is not None:
                if len(message.labels) != len(entry.predictions):
                    hint = '"label"' if len(entry.predictions) == 1 else f'"labels" with {len(entry.predictions)}'
                    raise BadInput(400, "bad_feedback", f"request {message.request_id} had {len(entry.predictions)} "
                                                        f"row(s); send {hint} label(s)")
                rows = len(entry.predictions)
                reward = float(sum(p == y for p, y in zip(entry.predictions, message.labels)))
            entry.used = True
    except BadInput as exc:
        return _error(service, request_id, exc.status, exc.reason, exc.message, body=body)
    except UnknownRequest:
        return _error(service, request_id, 404, "unknown_request",
                      f"unknown or expired request_id {request_id!r}: {NAME} remembers requests for "
                      f"{SERVING['feedback_ttl_seconds']:g}s, the last {SERVING['feedback_max_requests']} at most")
    except FeedbackAlreadyGiven:
        return _error(service, request_id, 409, "duplicate_feedback",
                      f"feedback for request {request_id!r} was already counted; it counts once")
    service.telemetry.feedback.labels(model_version=NAME, kind=message.kind).inc(rows)
    service.telemetry.reward.labels(model_version=NAME).inc(reward or 0.0)
    service.log.feedback(message.request_id, message.labels, reward)
    body = {"version": NAME, "request_id": message.request_id, "kind": message.kind, "rows": rows, "reward": reward}
    return JSONResponse(body, headers=_headers(request_id))


# Every method reaches the handlers, so a GET gets a JSON 405 like any other bad request.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
api = Starlette(routes=[Route("/predict", predict, methods=ALL_METHODS),
                        Route("/feedback", feedback, methods=ALL_METHODS)])


@bentoml.service(
    name=BUILD["service"],
    workers=1,
    traffic={"timeout": 30},
    metrics={"enabled": True, "namespace": "bentoml_service", "duration": {"buckets": LATENCY_BUCKETS}},
    labels={"model_version": NAME},
)
@bentoml.asgi_app(api, path="/")
class DigitsClassifier:
    model_ref = bentoml.models.BentoModel(BUILD["model_tag"])

    def __init__(self) -> None:
        self.faults = FaultInjector(BUILD["faults"])
        self.model = joblib.load(self.model_ref.path_of("model.joblib"))
        self.version = NAME
        self.memory = RequestMemory(int(SERVING["feedback_max_requests"]), float(SERVING["feedback_ttl_seconds"]))
        self.telemetry = Telemetry()
        self.log = PredictionLog.from_environment(NAME)

    def __is_ready__(self) -> bool:
        """/readyz: a cold-start version is not ready until its warm-up time has passed."""
        return self.faults.is_warm()


# Outside BentoML's router: its plain-text 404/405 for paths and methods nobody serves become JSON too.
DigitsClassifier.add_asgi_middleware(JSONErrorsMiddleware, answer=_unknown_route)
