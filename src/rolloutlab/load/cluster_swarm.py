"""ClusterSwarm: the in-cluster Locust master as the engine's load — started with /swarm, stopped with /stop.

The master and its workers are the stack's (infra/load_generator.py) and run the same locustfile as
the local target; what a run can set through the master's HTTP API is the number of users and the
spawn rate. The rest of the traffic plan (rate per user, seed, shape, feedback delay) is the
locustfile's environment, set at `pulumi up` from `rolloutlab:loadEnv`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rolloutlab.errors import LoadError
from rolloutlab.load.locust_runner import LoadStats

# Locust's runner states while users are (being) started; "stopped" / "ready" mean no load.
_RUNNING = ("spawning", "running")


class Swarm(Protocol):
    """The part of KubernetesTarget that drives the in-cluster master."""

    def start_load(self, users: int, spawn_rate: float, workers: int | None = None, timeout: float = 60.0) -> None: ...

    def stop_load(self) -> None: ...

    def load_stats(self) -> dict[str, Any]: ...



@dataclass
class ClusterSwarm:
    """Load for a run from the stack's Locust master (reached through its port-forward)."""

    target: Swarm
    users: int
    spawn_rate: float
    started: bool = False
    last: dict[str, Any] | None = None

    def start(self) -> ClusterSwarm:
        self.target.start_load(self.users, self.spawn_rate)
        self.started = True
        return self

    def alive(self) -> bool:
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
