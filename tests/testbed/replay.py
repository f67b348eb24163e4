"""Recorded numbers and traffic-free hooks for running the engine on the testbed, where no pod serves.

ReplaySource answers the engine's PromQL with the numbers a real local run measured (its journal in
`recorded/`), chosen by the candidate's share in the HTTPRoute *as the API server holds it at query
time*: if the route on the server were not at the step's split, the engine would get no data for it
and judge Inconclusive. Every query notes the live route, so a test can check each step's route.

ObservingHooks stand in for the smoke tests and the switch timing (both send requests through the
router, and nothing routes here): they read the live HTTPRoute and stable Service instead, and pass
the smoke test only if the preview rule for the probed version is really on the server.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from rolloutlab.k8s_names import VERSION_LABEL, K8sNames
from rolloutlab.metrics.queries import METRICS, SERIES, render, render_metric
from rolloutlab.routers.httproute import GATEWAY_GROUP, state_of
from rolloutlab.routing import RoutingState
from rolloutlab.strategies.base import Probe, ProbeResult

_MS_SERIES = {"p50_seconds": "p50_ms", "p95_seconds": "p95_ms", "p99_seconds": "p99_ms"}


def journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _values(observed: dict[str, Any], version: str, windows: Iterable[float]) -> dict[str, float]:
    """The PromQL each window's queries would render for `version`, answered with one observed window's numbers."""
    answers: dict[str, float] = {}
    for window in windows:
        for name in SERIES:
            key = _MS_SERIES.get(name, name)
            if observed.get(key) is not None:
                answers[render(name, version, window)] = observed[key] / (1000.0 if name in _MS_SERIES else 1.0)
        # A check's value as recorded; metrics the recording did not check but measured anyway (p50, p99,
        # error rate, accuracy, rps are in every window's basics) are the same numbers.
        checked = {m: observed[m] for m in METRICS if observed.get(m) is not None}
        checked.update({m: v for m, v in (observed.get("checked") or {}).items() if m in METRICS and v is not None})
        for metric, value in checked.items():
            answers[render_metric(metric, version, window)] = value
    return answers


@dataclass
class LiveRoute:
    """Reads the lab's HTTPRoute and stable Service from the API server."""

    api: client.ApiClient
    names: K8sNames

    def route(self) -> dict[str, Any]:
        return client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            GATEWAY_GROUP, "v1", self.names.namespace, "httproutes", self.names.httproute)

    def state(self) -> RoutingState:
        return state_of(self.route())

    def stable_version(self) -> str:
        service = client.CoreV1Api(self.api).read_namespaced_service(self.names.stable_service, self.names.namespace)
        return service.spec.selector[VERSION_LABEL]

    def backends(self) -> list[tuple[str, int]]:
        """(Service, weight) of the weighted default rule (the last one), as the server stores it."""
        return [(b["name"], b["weight"]) for b in self.route()["spec"]["rules"][-1]["backendRefs"]]


@dataclass
class ReplaySource:
    """A MetricsSource replaying a recorded run, keyed by the candidate's share in the live HTTPRoute."""

    recorded: Path
    candidate: str
    live: LiveRoute
    windows: tuple[float, ...]
    interrupt_at_share: int | None = None  # raise KeyboardInterrupt (a Ctrl-C) when judging at this share
    seen: list[tuple[int, list[tuple[str, int]]]] = field(default_factory=list)  # (share, backends) per step
    table: dict[int, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for record in journal(self.recorded):
            if record["event"] == "reference_recorded" and record.get("baseline"):
                self.table.setdefault(0, {}).update(_values(record["baseline"], record["version"], self.windows))
            elif record["event"] == "analysis" and record.get("candidate"):
                share = self.table.setdefault(int(record["candidate_percent"]), {})
                share.update(_values(record["candidate"], record["version"], self.windows))
                if record.get("baseline"):
                    share.update(_values(record["baseline"], record["baseline"]["version"], self.windows))

    def query(self, promql: str) -> float:
        share = round(100 * self.live.state().share(self.candidate))
        if not self.seen or self.seen[-1][0] != share:
            self.seen.append((share, self.live.backends()))
        if share == self.interrupt_at_share:
            raise KeyboardInterrupt
        return self.table.get(share, {}).get(promql, math.nan)

    def is_online(self) -> bool:
        return True


@dataclass
class ObservingHooks:
    """The engine's Hooks without traffic: they look at the live objects instead of sending requests."""

    recorded: Path
    live: LiveRoute
    retire_version: Callable[[str], str]
    smoked: list[RoutingState] = field(default_factory=list)
    switched: list[tuple[RoutingState, str]] = field(default_factory=list)  # (route, stable Service's version)

    def smoke(self, probe: Probe) -> ProbeResult:
        state = self.live.state()
        self.smoked.append(state)
        smoke = next(r for r in journal(self.recorded) if r["event"] == "smoke")
        preview = [r for r in state.rules if r.version == probe.version
                   and probe.headers.get(r.header) == r.value]
        if not preview:
            return ProbeResult(False, f"no header rule to {probe.version} for {probe.headers} on the server: "
                                      f"{state.describe()}")
        return ProbeResult(smoke["passed"], f"replayed: {smoke['summary']}", smoke["numbers"])

    def time_switch(self, version: str, applied_at: float) -> dict[str, float | None]:
        self.switched.append((self.live.state(), self.live.stable_version()))
        return {"apply_s": round(time.monotonic() - applied_at, 3), "switch_s": None, "failed_requests": None}

    def retire(self, version: str) -> str:
        return self.retire_version(version)
