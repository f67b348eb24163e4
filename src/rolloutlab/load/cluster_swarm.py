"""ClusterSwarm: the in-cluster Locust master as the engine's load — started with /swarm, stopped with /stop.

The master and its workers are the stack's (infra/load_generator.py) and run the same locustfile as
the local target. Each run sends its own traffic plan with its /swarm — users, rate per user, seed,
population, feedback delay, shape and its parameters (the locustfile's per-test options) — so the
in-cluster load is the scenario's, whatever `rolloutlab:loadEnv` deployed. Each test is also bounded
on the master itself: by `max_seconds`, and by a heartbeat that `alive()` (polled by the engine every
second) and `heartbeat()` send; a CLI killed or cut off by a dropped port-forward thus stops its load
within `heartbeat_timeout` seconds, with nobody left to POST /stop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from rolloutlab.errors import LoadError
from rolloutlab.load.locust_runner import LoadSpec, LoadStats
from rolloutlab.scenario.load import LoadBase

HEARTBEAT_TIMEOUT = 30.0  # seconds without a heartbeat before the master stops a run's load by itself

# Locust's runner states while users are (being) started; "stopped" / "ready" mean no load.
_RUNNING = ("spawning", "running")


class Swarm(Protocol):
    """The part of KubernetesTarget that drives the in-cluster master."""

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0,
                   fields: dict[str, str] | None = None) -> None: ...

    def stop_load(self) -> None: ...

    def load_stats(self) -> dict[str, Any]: ...

    def heartbeat_load(self) -> dict[str, Any]: ...


def swarm_fields(load: LoadBase | LoadSpec, max_seconds: float, heartbeat_timeout: float | None,
                 keep_duration: bool = False) -> dict[str, str]:
    """The /swarm form options of one run (loadtests/loadgen/settings.SWARM_VARIABLES, in lower case).

    load: a scenario's load section, or the LoadSpec a run made of it (the same traffic plan).

    keep_duration: let the shape end the test at the load's duration (`cluster load`); a rollout
    keeps its load until the rollout ends, bounded by max_seconds.
    """
    if max_seconds <= 0:
        raise LoadError(f"max_seconds must be positive, got {max_seconds}")
    if heartbeat_timeout is not None and heartbeat_timeout <= 0:
        raise LoadError(f"heartbeat_timeout must be positive, got {heartbeat_timeout}")
    if isinstance(load, LoadBase):
        shape, params = load.shape_name, load.shape_params()
    else:
        shape, params = load.shape, dict(load.shape_params)
    fields = {
        "rolloutlab_rate_per_user": repr(float(load.rate_per_user)),
        "rolloutlab_seed": str(load.seed),
        "rolloutlab_population": str(load.population),
        "rolloutlab_feedback_delay": "off" if load.feedback_delay is None else repr(float(load.feedback_delay)),
        "rolloutlab_shape": shape,
        "rolloutlab_shape_params": json.dumps(params),
        "rolloutlab_swarm_time": repr(float(max_seconds)),
        "rolloutlab_heartbeat_timeout": "" if heartbeat_timeout is None else repr(float(heartbeat_timeout)),
    }
    if keep_duration and load.duration is not None:
        fields["rolloutlab_duration"] = repr(float(load.duration))
    return fields


@dataclass
class ClusterSwarm:
    """Load for a run from the stack's Locust master (reached through its port-forward)."""

    target: Swarm
    load: LoadBase | LoadSpec
    max_seconds: float  # the master ends the test by itself then, even if nobody stops it
    heartbeat_timeout: float | None = HEARTBEAT_TIMEOUT
    keep_duration: bool = False
    started: bool = False
    last: dict[str, Any] | None = None

    @property
    def users(self) -> int:
        return self.load.users

    def start(self) -> ClusterSwarm:
        fields = swarm_fields(self.load, self.max_seconds, self.heartbeat_timeout, self.keep_duration)
        self.target.start_load(self.load.users, float(self.load.users), fields=fields)
        self.started = True
        return self

    def heartbeat(self) -> bool:
        """Tell the master this run still watches its load; False if the master cannot be reached."""
        try:
            self.target.heartbeat_load()
        except LoadError:
            return False
        return True

    def alive(self) -> bool:
        """The load still runs (each call is also a heartbeat: the engine polls this while it waits)."""
        if not self.heartbeat():
            return False
        try:
            self.last = self.target.load_stats()
        except LoadError:
            return False
        return self.last.get("state") in _RUNNING

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self.last = self.target.load_stats()
            self.target.stop_load()
        except LoadError:
            pass  # the master is gone: no load runs either
        self.started = False

    def stats(self) -> LoadStats | None:
        """The /predict row of the master's last statistics (None before any)."""
        rows = {row.get("name"): row for row in (self.last or {}).get("stats") or []}
        row = rows.get("/predict") or rows.get("Aggregated")
        if row is None:
            return None
        return LoadStats(requests=int(row.get("num_requests", 0)), failures=int(row.get("num_failures", 0)),
                         rps=float(row.get("total_rps", 0.0)),
                         p50_ms=float(row.get("median_response_time") or "nan"),
                         p95_ms=float(row.get("response_time_percentile_0.95") or "nan"))

    @property
    def pid(self) -> str:
        return "in the cluster"
