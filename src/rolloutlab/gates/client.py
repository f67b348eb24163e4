"""HTTP to one version's own server for the gates: a POST that times itself, and a readiness check."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from rolloutlab.errors import GateError

TIMEOUT = 30.0  # seconds; a request slower than this counts as unanswered (status 0), not as a crash

_local = threading.local()


@dataclass(frozen=True)
class Answer:
    """One response: status (0 when none came in time), seconds taken, headers and the body as JSON if it is."""

    status: int
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # parsed JSON, or None when the body was not JSON
    text: str = ""  # the start of the raw body, to quote in a summary

    @property
    def ms(self) -> float:
        return 1000 * self.seconds


def session() -> requests.Session:
    """One keep-alive session per thread (requests.Session is not thread-safe)."""
    existing = getattr(_local, "session", None)
    if existing is None:
        existing = _local.session = requests.Session()
    return existing


def post(name: str, url: str, data: bytes, timeout: float = TIMEOUT) -> Answer:
    """POST raw bytes as JSON; a refused connection raises GateError (the gate cannot run), a timeout is status 0."""
    started = time.perf_counter()
    try:
        response = session().post(url, data=data, headers={"content-type": "application/json"}, timeout=timeout)
    except requests.Timeout:
        return Answer(0, time.perf_counter() - started, text=f"no answer within {timeout:g}s")
    except requests.ConnectionError as exc:
        raise GateError(f"{name} at {url} is unreachable: {exc.__class__.__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    headers = {key.lower(): value for key, value in response.headers.items()}
    return Answer(response.status_code, seconds, headers, body, response.text[:200])


def post_json(name: str, url: str, payload: Any, timeout: float = TIMEOUT) -> Answer:
    return post(name, url, json.dumps(payload).encode(), timeout)


def require_ready(name: str, base_url: str, timeout: float = 5.0) -> None:
    """GateError unless the version's server answers /readyz with 2xx: gates judge models, not start-up."""
    url = base_url.rstrip("/") + "/readyz"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise GateError(f"{name} at {base_url} is unreachable ({url}: {exc.__class__.__name__}); "
                        "is its server running?") from exc
    if not 200 <= response.status_code < 300:
        raise GateError(f"{name} at {base_url} is not ready: {url} answered {response.status_code}")
