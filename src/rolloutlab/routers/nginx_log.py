"""Read the router's JSON access log: which version answered each request, and how it failed (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass

NO_VERSION = "none"  # answered by NGINX itself (a bad request, a /_rolloutlab/ path): no version involved


@dataclass(frozen=True)
class Routed:
    """One request as the router saw it."""

    version: str
    route: str  # forced | rule | sticky | weighted | mirror
    status: int
    seconds: float
    failure: str | None  # connect (refused/unreachable) | timeout | bad_response | None


def _version(upstream: str, ports: dict[int, str]) -> str:
    # With proxy_next_upstream off a request tries one address; the last one is the one that answered.
    address = upstream.replace(" : ", ", ").split(", ")[-1].strip()
    host, _, port = address.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        return NO_VERSION
    return ports.get(int(port), NO_VERSION)


def _failure(status: int, connect_time: str) -> str | None:
    """How NGINX failed to get an answer from the version, from what it logs.

    502 without a connect time: the connection was refused or reset (the server is down);
    502 after connecting: the server closed or garbled its answer; 504: connect or read timeout.
    An error status the model server itself answered is not a router failure.
    """
    if status == 504:
        return "timeout"
    if status == 502:
        return "connect" if connect_time in ("", "-") else "bad_response"
    return None


def parse_line(line: str, ports: dict[int, str]) -> Routed | None:
    """The request one access-log line describes, or None if the line is not one of ours."""
    try:
        record = json.loads(line)
        status = int(record["status"])
        seconds = float(record.get("request_time") or 0.0)
    except (ValueError, KeyError, TypeError):
        return None
    version = _version(str(record.get("upstream", "")), ports)
    connect = str(record.get("connect_time", "")).split(", ")[-1].strip()
    failure = _failure(status, connect) if version != NO_VERSION else None
    return Routed(version, str(record.get("route") or "weighted"), status, seconds, failure)
