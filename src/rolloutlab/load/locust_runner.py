"""Run the Locust prediction user headless in its own processes (one, or a master and N workers).

Every process is started in its own process group and stopped by PID on every exit path; each also
quits by itself at the spec's hard bound or when this process dies (see loadtests/loadgen/watchdog.py).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rolloutlab.errors import LoadError
from rolloutlab.load.client_metrics import Snapshot, parse_exposition
from rolloutlab.load.probe import probe_target
from rolloutlab.paths import project_root
from rolloutlab.targets.processes import ProcessRecord, free_port, http_ok, is_alive, log_tail, spawn, stop
from rolloutlab.targets.prometheus_config import remove_file_sd_target, write_file_sd_target

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
START_TIMEOUT = 30.0  # a Locust process imports gevent, locust and the holdout rows: a few seconds when busy


def default_locustfile() -> Path:
    return project_root() / "loadtests" / "locustfile.py"


@dataclass(frozen=True)
class LoadSpec:
    """What to run: target, traffic plan and shape, and the hard bound the processes never outlive."""

    host: str
    holdout: Path
    max_seconds: float  # a hard bound: Locust quits (and is killed soon after) even if nobody stops it
    users: int = 10
    rate_per_user: float = 5.0
    seed: int = 42
    shape: str = "steady"
    shape_params: Mapping[str, float | int] = field(default_factory=dict)
    duration: float | None = None  # the shape ends the test then; None: until stopped
    population: int = 1000
    feedback_delay: float | None = 2.0  # None: no feedback
    workers: int = 0  # 0: one local process; N: a master and N workers
    force_version: str | None = None  # x-model-version on every prediction
    locustfile: Path = field(default_factory=default_locustfile)
    file_sd_dir: Path | None = None  # register the exporters here so the lab's Prometheus scrapes them
    labels: Mapping[str, str] = field(default_factory=dict)  # extra target labels for those scrapes
    traffic_log: Path | None = None
    drift: str | None = None  # the drift plan as JSON (loadtests/loadgen/drift.py), None: no drift

    def __post_init__(self) -> None:
        parts = urlsplit(self.host)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
            raise LoadError(f"load goes only to this machine: host must be http://127.0.0.1:PORT, got {self.host!r}")
        if self.max_seconds <= 0:
            raise LoadError(f"max_seconds must be positive, got {self.max_seconds}")
        if not 0 <= self.workers <= 64:
            raise LoadError(f"workers must be between 0 and 64, got {self.workers}")

    @classmethod
    def from_load(cls, load: Any, *, host: str, holdout: Path, max_seconds: float, keep_duration: bool = True,
                  **extra: Any) -> LoadSpec:
        """A spec from a scenario's load section (rolloutlab.scenario.load); extra sets the other fields."""
        return cls(
            host=host, holdout=holdout, max_seconds=max_seconds, users=load.users, rate_per_user=load.rate_per_user,
            seed=load.seed, shape=load.shape_name, shape_params=load.shape_params(), population=load.population,
            feedback_delay=load.feedback_delay, duration=load.duration if keep_duration else None,
            drift=load.drift_plan_json(), **extra,
        )

    def environment(self) -> dict[str, str]:
        """The locustfile's configuration (documented at the top of loadtests/locustfile.py)."""
        return {
            "ROLLOUTLAB_HOLDOUT": str(self.holdout),
            "ROLLOUTLAB_RATE_PER_USER": repr(float(self.rate_per_user)),
            "ROLLOUTLAB_SEED": str(self.seed),
            "ROLLOUTLAB_POPULATION": str(self.population),
            "ROLLOUTLAB_FEEDBACK_DELAY": "off" if self.feedback_delay is None else repr(float(self.feedback_delay)),
            "ROLLOUTLAB_USERS": str(self.users),
            "ROLLOUTLAB_SHAPE": self.shape,
            "ROLLOUTLAB_SHAPE_PARAMS": json.dumps(dict(self.shape_params)),
            "ROLLOUTLAB_DURATION": "" if self.duration is None else repr(float(self.duration)),
            "ROLLOUTLAB_RUN_TIME": repr(float(self.max_seconds)),
            "ROLLOUTLAB_PARENT_PID": str(os.getpid()),
            "ROLLOUTLAB_WORKERS": str(max(1, self.workers)),
            "ROLLOUTLAB_FORCE_VERSION": self.force_version or "",
            "ROLLOUTLAB_TRAFFIC_LOG": str(self.traffic_log or ""),
            "ROLLOUTLAB_EXPORTER_HOST": "127.0.0.1",
            "ROLLOUTLAB_DRIFT": self.drift or "",
        }


@dataclass(frozen=True)
class LoadStats:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class LoadProcess:
    """One Locust process: its record, role and the port of its metrics exporter."""

    record: ProcessRecord
    role: str  # local | master | worker-N
    exporter_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.exporter_port}/metrics"


class LocustRunner:
    """start() / alive() / stop() / stats() over Locust processes writing into out_dir."""

    def __init__(self, spec: LoadSpec, out_dir: Path, name: str = "load") -> None:
        self.spec = spec
        self.out_dir = out_dir
        self.name = name
        self.processes: list[LoadProcess] = []
        self.record: ProcessRecord | None = None  # the local or master process
        self._sd_names: list[str] = []

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self, probe: bool = True) -> ProcessRecord:
        """Check the target answers, start Locust, wait until every process serves its metrics."""
        spec = self.spec
        if not spec.holdout.is_file():
            raise LoadError(f"held-out rows {spec.holdout} are missing; `rolloutlab models build` writes them")
        if probe:
            probe_target(spec.host, spec.holdout, spec.force_version)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._spawn_all()
            self._wait_started()
            self._register_exporters()
        except BaseException:
            self.stop()
            raise
        assert self.record is not None
        return self.record

    def _base_argv(self) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(self.spec.locustfile), "--loglevel", "WARNING"]

    def _spawn_all(self) -> None:
        spec, out = self.spec, self.out_dir
        headless = ["--headless", "--host", spec.host, "--stop-timeout", "2", "--only-summary",
                    "--csv", str(out / "locust"), "--csv-full-history", "--json-file", str(out / "locust")]
        env = {**os.environ, **spec.environment()}
        env.pop("LOCUST_SKIP_MONKEY_PATCH", None)  # Locust must patch its own interpreter
        if spec.workers == 0:
            self._spawn("local", [*self._base_argv(), *headless], env)
            return
        master_port = free_port()
        self._spawn("master", [
            *self._base_argv(), *headless, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(master_port), "--expect-workers", str(spec.workers),
            "--expect-workers-max-wait", str(int(START_TIMEOUT)),
        ], env)
        for index in range(spec.workers):
            self._spawn(f"worker-{index}", [
                *self._base_argv(), "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port),
            ], env)

    def _spawn(self, role: str, argv: list[str], env: dict[str, str]) -> None:
        port = free_port()
        log = self.out_dir / ("locust.log" if role in ("local", "master") else f"locust-{role}.log")
        env = {**env, "ROLLOUTLAB_EXPORTER_PORT": str(port),
               "ROLLOUTLAB_METRICS_FILE": str(self.out_dir / f"client-metrics-{role}.prom")}
        record = spawn(f"{self.name} (locust {role})", argv, log, env=env)
        self.processes.append(LoadProcess(record, role, port))
        if role in ("local", "master"):
            self.record = record

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.processes)
        while pending:
            for process in list(pending):
                if http_ok(process.metrics_url, timeout=0.5):
                    pending.remove(process)
                elif not is_alive(process.record):
                    raise LoadError(f"locust ({process.role}) exited at start; last lines of "
                                    f"{process.record.log}:\n{log_tail(process.record.log)}")
            if pending and time.monotonic() > deadline:
                raise LoadError(f"locust ({', '.join(p.role for p in pending)}) did not start within "
                                f"{START_TIMEOUT:.0f}s; see {pending[0].record.log}")
            if pending:
                time.sleep(0.2)

    def _register_exporters(self) -> None:
        if self.spec.file_sd_dir is None:
            return
        for process in self.processes:
            name = f"load-{process.record.pid}"
            labels = {"role": "load-generator", "process": process.role, **self.spec.labels}
            write_file_sd_target(self.spec.file_sd_dir, name, process.exporter_port, labels)
            self._sd_names.append(name)

    def alive(self) -> bool:
        return self.record is not None and is_alive(self.record)

    def wait(self, timeout: float) -> bool:
        """Wait until the local/master process has exited by itself (its shape ended); True if it has."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def stop(self) -> None:
        """Stop every process by PID: the master first (it writes the CSV files), then the workers."""
        for name in self._sd_names:
            remove_file_sd_target(self.spec.file_sd_dir, name)  # type: ignore[arg-type]
        self._sd_names.clear()
        # SIGTERM makes Locust stop its users and write its CSV files before it exits.
        for process in sorted(self.processes, key=lambda p: p.role.startswith("worker")):
            stop(process.record, timeout=15)

    @property
    def metrics_urls(self) -> list[str]:
        return [p.metrics_url for p in self.processes]

    @property
    def pids(self) -> list[int]:
        return [p.record.pid for p in self.processes]

    # --- results -------------------------------------------------------------------------------
    def final_metrics(self) -> Snapshot | None:
        """The client counters every process wrote as it exited (None if none did, e.g. when killed)."""
        files = [self.out_dir / f"client-metrics-{p.role}.prom" for p in self.processes]
        found = [path for path in files if path.is_file()]
        if not found:
            return None
        total = Snapshot()
        for path in found:
            total.add(parse_exposition(path.read_text(encoding="utf-8")))
        return total

    def stats(self) -> LoadStats | None:
        """The predictions' row of Locust's stats CSV (feedback has its own row), if Locust wrote one."""
        rows = self.stats_rows()
        row = rows.get("/predict") or rows.get("Aggregated")
        if row is None:
            return None
        return LoadStats(
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            rps=float(row["Requests/s"]),
            p50_ms=float(row["50%"] or "nan"),
            p95_ms=float(row["95%"] or "nan"),
        )

    def stats_rows(self) -> dict[str, dict[str, str]]:
        """Every row of locust_stats.csv by name (/predict, /feedback, Aggregated)."""
        path = self.out_dir / "locust_stats.csv"
        if not path.is_file():
            return {}
        with open(path, newline="", encoding="utf-8") as handle:
            return {row["Name"]: row for row in csv.DictReader(handle) if row.get("Name")}
