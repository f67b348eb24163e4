"""LocalTarget: the lab as plain processes on 127.0.0.1 — BentoML per version, NGINX, Prometheus."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rolloutlab import zoo
from rolloutlab.errors import LabError, RoutingError
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.metrics.prometheus import PrometheusSource
from rolloutlab.probes import ROUTER_FAILURES
from rolloutlab.paths import write_atomically
from rolloutlab.routers.factory import nginx_router
from rolloutlab.routers.journaled import JOURNAL_NAME, JournaledRouter, record_state
from rolloutlab.routers.nginx import write_config
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.routers.nginx_config import METRICS_PATH, NginxLayout
from rolloutlab.routing import RoutingState
from rolloutlab.targets.processes import (
    ProcessRecord,
    descendants,
    free_port,
    is_alive,
    require_free,
    spawn,
    stop,
    stop_together,
    wait_until_ready,
)
from rolloutlab.targets.local_watch import LabWatch
from rolloutlab.targets.programs import find_program
from rolloutlab.targets.prometheus_config import render_prometheus_config, write_file_sd_target
from rolloutlab.targets.warm_up import WARM_UP_REQUESTS, warm_up
from rolloutlab.drift.component import FILE_SD_NAME, monitor_command
from rolloutlab.drift.uses import drift_uses
from rolloutlab.zoo.server import PREDICTION_LOG, serving_env

if TYPE_CHECKING:
    from rolloutlab.engine import Engine
    from rolloutlab.journal import Journal
    from rolloutlab.scenario import ScenarioBase

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Endpoints:
    router_url: str
    prometheus_url: str
    versions: dict[str, str]


@dataclass
class LabState:
    """What `down` and `status` need after the CLI that ran `up` is gone; written as each process starts."""

    versions: dict[str, int] = field(default_factory=dict)
    router_port: int = 0
    router_metrics_port: int = 0  # the router's exporter, behind NGINX's METRICS_PATH
    prometheus_port: int = 0
    drift_port: int = 0  # the drift monitor's /metrics (rolloutlab/drift/), scraped via file_sd
    nginx: str = ""
    max_body_kib: int = 1024  # the catalogue's serving limit at `up`: NGINX refuses larger bodies itself
    processes: list[ProcessRecord] = field(default_factory=list)
    # Children that left their parent's process group (BentoML workers run in sessions of their own):
    # recorded once ready, so `down` finds them even if their parent died first.
    workers: list[ProcessRecord] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, object]:
        return {**{k: v for k, v in self.__dict__.items() if k not in ("processes", "workers")},
                "processes": [p.to_dict() for p in self.processes],
                "workers": [p.to_dict() for p in self.workers]}

    @classmethod
    def from_dict(cls, data: dict) -> LabState:
        processes = [ProcessRecord(**p) for p in data.pop("processes", [])]
        workers = [ProcessRecord(**p) for p in data.pop("workers", [])]
        return cls(**data, processes=processes, workers=workers)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            router_url=f"http://127.0.0.1:{self.router_port}",
            prometheus_url=f"http://127.0.0.1:{self.prometheus_port}",
            versions={v: f"http://127.0.0.1:{p}" for v, p in self.versions.items()},
        )


class LocalTarget:
    """Processes on 127.0.0.1 under <home>/lab: state.json, logs/, nginx/, prometheus/.

    Also the run contract (targets/base.py): `prepare` finds the running lab or starts one, `teardown`
    stops it again only if this run started it (and not with keep_up).
    """

    kind = "local"
    builds_versions = True  # prepare builds what is missing (so planning may build first)
    failures_query = ROUTER_FAILURES

    def __init__(self, home: Path, *, keep_up: bool = False, router_port: int | None = None,
                 ready_timeout: float = 90.0) -> None:
        self.dir = home / "lab"
        self.state_file = self.dir / "state.json"
        # Prometheus scrapes whatever JSON target files appear here (see write_file_sd_target).
        self.file_sd_dir = self.dir / "prometheus" / "targets"
        self.keep_up, self.router_port, self.ready_timeout = keep_up, router_port, ready_timeout
        self.prepared = self.started_here = False  # set by prepare: is this run's lab its own?

    # --- the run contract (targets/base.py) --------------------------------------------------
    def prepare(self, scenario: ScenarioBase, progress: Progress) -> bool:
        versions = scenario.versions.all
        running = self.running_state()
        if running is not None:
            missing = [v for v in versions if v not in running.versions]
            if missing:
                raise LabError(f"the running lab serves {', '.join(running.versions)} but {scenario.name} needs "
                               f"{', '.join(missing)}; run `rolloutlab down` first")
            progress(f"using the running lab at {running.endpoints.router_url}")
        else:
            self.up(versions, router_port=self.router_port, ready_timeout=self.ready_timeout, progress=progress,
                    drift_monitor=needs_drift_monitor(scenario))
            self.started_here = True
        self.prepared = True
        return self.started_here

    def endpoints(self) -> Endpoints:
        state = self.running_state()
        if state is None:
            raise LabError("the lab is not up; start it with `rolloutlab up` or `rolloutlab run <scenario>`")
        return state.endpoints

    def metrics(self) -> PrometheusSource:
        return PrometheusSource(self.endpoints().prometheus_url)

    def load(self, spec: LoadSpec, run_dir: Path, progress: Progress) -> LocustRunner:
        # Client metrics beside the servers' in the lab's Prometheus (file service discovery).
        return LocustRunner(replace(spec, file_sd_dir=self.file_sd_dir), run_dir / "load")

    def describe(self) -> dict[str, object]:
        endpoints = self.endpoints()
        return {"kind": self.kind, "router": endpoints.router_url, "prometheus": endpoints.prometheus_url,
                "started_here": self.started_here}

    def after_run(self, router: TrafficRouter, journal: Journal, progress: Progress) -> Callable[[Engine], None]:
        return lambda _engine: None  # the lab's own routing journal already holds the state in force

    def teardown(self, progress: Progress) -> None:
        if self.started_here and not self.keep_up:
            progress("stopping the lab")
            self.down()

    # --- state -------------------------------------------------------------------------------
    def load_state(self) -> LabState | None:
        try:
            return LabState.from_dict(json.loads(self.state_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise LabError(f"lab state {self.state_file} is unreadable ({exc}); remove it after checking no lab process runs") from exc

    def _save(self, state: LabState) -> None:
        write_atomically(self.state_file, json.dumps(state.to_dict(), indent=2))

    def running_state(self) -> LabState | None:
        """The lab's state if any of its processes still runs."""
        state = self.load_state()
        if state and any(is_alive(p) for p in state.processes):
            return state
        return None

    # --- lifecycle ---------------------------------------------------------------------------
    def up(
        self,
        versions: list[str],
        router_port: int | None = None,
        ready_timeout: float = 90.0,
        progress: Progress = lambda _: None,
        drift_monitor: bool = False,
    ) -> Endpoints:
        """Start one model server per version, Prometheus and NGINX (all traffic on versions[0]); wait for readiness.

        With drift_monitor, also the drift monitor (rolloutlab/drift/): it costs CPU on the same two cores the
        servers use, so a lab starts it only when asked (`up --drift-monitor`) or a scenario needs it.
        """
        if not versions:
            raise LabError("no versions to start")
        if len(set(versions)) != len(versions):
            raise LabError(f"versions repeat: {', '.join(versions)}")
        if self.running_state():
            raise LabError(f"the lab is already up (state {self.state_file}); run `rolloutlab down` first")
        self._clear_stale()
        nginx, prometheus = find_program("nginx"), find_program("prometheus")
        if router_port is not None:
            require_free(router_port, "router (NGINX)")
        build_started = time.monotonic()
        built = zoo.ensure_built(versions)
        if built:
            progress(f"built model versions {', '.join(built)} into {zoo.bentoml_home()} "
                     f"in {time.monotonic() - build_started:.0f}s")

        state = LabState(nginx=nginx)
        try:
            self._start_all(state, versions, nginx, prometheus, router_port, ready_timeout, progress, drift_monitor)
        except BaseException:
            progress("start-up failed; stopping what was started")
            self._stop_all(state)
            raise
        return state.endpoints

    def _start_all(self, state: LabState, versions: list[str], nginx: str, prometheus: str,
                   router_port: int | None, ready_timeout: float, progress: Progress, drift_monitor: bool) -> None:
        catalogue = zoo.load_catalogue()
        state.max_body_kib = catalogue.serving.max_body_kib
        logs = self.dir / "logs"
        checks: dict[str, tuple[ProcessRecord, str]] = {}
        for version in versions:
            port = free_port()
            record = spawn(
                f"model {version}",
                [sys.executable, "-m", "bentoml", "serve", catalogue.bento_tag(version),
                 "--host", "127.0.0.1", "--port", str(port)],
                logs / f"model-{version}.log", env=serving_env(self.dir / "serving" / version), cwd=self.dir,
            )
            state.versions[version] = port
            state.processes.append(record)
            self._save(state)
            checks[record.name] = (record, f"http://127.0.0.1:{port}/readyz")
            progress(f"starting {record.name} on 127.0.0.1:{port} (pid {record.pid})")

        state.prometheus_port = free_port()
        state.router_port = router_port or free_port()
        prom_dir = self.dir / "prometheus"
        self.file_sd_dir.mkdir(parents=True, exist_ok=True)
        (prom_dir / "prometheus.yml").write_text(
            render_prometheus_config(state.versions, state.router_port, self.file_sd_dir), encoding="utf-8"
        )
        record = spawn("prometheus", [
            prometheus, f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}", "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{state.prometheus_port}",
        ], logs / "prometheus.log", cwd=prom_dir)
        state.processes.append(record)
        self._save(state)
        checks["prometheus"] = (record, f"http://127.0.0.1:{state.prometheus_port}/-/ready")
        progress(f"starting prometheus on 127.0.0.1:{state.prometheus_port} (pid {record.pid})")

        state.router_metrics_port = free_port()
        layout = self._nginx_layout(state)
        initial = RoutingState({v: (100 if v == versions[0] else 0) for v in versions}, reason="lab up")
        write_config(nginx, initial, layout)
        record_state(self.dir / JOURNAL_NAME, "routing_applied", initial, by="up")
        # One process group: NGINX as the child of its exporter (routers/nginx_exporter.py).
        record = spawn("router", [
            sys.executable, "-m", "rolloutlab.routers.nginx_exporter", "--nginx", nginx,
            "--workdir", str(layout.workdir), "--listen-port", str(state.router_port),
            "--metrics-port", str(state.router_metrics_port),
            *[f"--backend={v}={p}" for v, p in sorted(state.versions.items())],
        ], logs / "nginx.log", cwd=layout.workdir)
        state.processes.append(record)
        self._save(state)
        # Ready when NGINX routes and its exporter answers through it.
        checks["router"] = (record, f"http://127.0.0.1:{state.router_port}{METRICS_PATH}")
        progress(f"starting router (nginx) on 127.0.0.1:{state.router_port} (pid {record.pid})")

        if drift_monitor:
            self._start_drift_monitor(state, logs, progress)

        progress(f"waiting for readiness (up to {ready_timeout:.0f}s)")
        wait_until_ready(checks, ready_timeout, lambda name, s: progress(f"{name} ready after {s:.1f}s"))
        state.workers = self._detached_children(state.processes)
        self._save(state)
        started = time.monotonic()
        for version, port in state.versions.items():
            warm_up(f"http://127.0.0.1:{port}", zoo.holdout_path())
        progress(f"warmed up {', '.join(state.versions)} with {WARM_UP_REQUESTS} predictions each "
                 f"({time.monotonic() - started:.1f}s)")

    def _start_drift_monitor(self, state: LabState, logs: Path, progress: Progress) -> None:
        """The drift monitor: its own process reading the servers' prediction logs, scraped by Prometheus.

        Not waited for: it serves /metrics at once and says rolloutlab_drift_ready once each version's
        thresholds are calibrated, which takes a few seconds per version the first time.
        """
        state.drift_port = free_port()
        prediction_logs = {version: self.prediction_log(version) for version in state.versions}
        record = spawn("drift monitor", monitor_command(state.drift_port, self.dir / "drift", prediction_logs),
                       logs / "drift-monitor.log", cwd=self.dir)
        state.processes.append(record)
        self._save(state)
        write_file_sd_target(self.file_sd_dir, FILE_SD_NAME, state.drift_port, {"component": "drift-monitor"})
        progress(f"starting drift monitor on 127.0.0.1:{state.drift_port} (pid {record.pid})")

    @staticmethod
    def _detached_children(records: list[ProcessRecord]) -> list[ProcessRecord]:
        """Descendants that are not in their parent's process group (so a group signal misses them)."""
        detached = []
        for record in records:
            for child in descendants(record):
                try:
                    if os.getpgid(child.pid) != record.pid:
                        detached.append(child)
                except ProcessLookupError:
                    continue
        return detached

    def _nginx_layout(self, state: LabState) -> NginxLayout:
        return NginxLayout(state.router_port, self.dir / "nginx", dict(state.versions), run_as_root=os.geteuid() == 0,
                           metrics_port=state.router_metrics_port, max_body_kib=state.max_body_kib)

    def router(self, by: str = "engine") -> JournaledRouter:
        """The lab's NGINX router; every state applied through it is journalled in <lab>/routing-journal.jsonl."""
        state = self.running_state()
        if state is None:
            raise LabError("the lab is not up; start it with `rolloutlab up` or `rolloutlab run <scenario>`")
        return JournaledRouter(nginx_router(state.nginx, self._nginx_layout(state)), self.dir / JOURNAL_NAME, by)

    def watch(self) -> LabWatch:
        """Which of the running lab's processes are gone (the engine asks while it holds a step)."""
        state = self.running_state()
        if state is None:
            raise LabError("the lab is not up; start it with `rolloutlab up` or `rolloutlab run <scenario>`")
        return LabWatch(state.processes, self._nginx_layout(state).workdir / "nginx.pid")

    def down(self, progress: Progress = lambda _: None) -> list[str]:
        """Stop exactly the processes recorded in the state file; returns their names."""
        state = self.load_state()
        if state is None:
            return []
        stopped = self._stop_all(state, progress)
        return stopped

    def _stop_all(self, state: LabState, progress: Progress = lambda _: None) -> list[str]:
        # Router first, so no request reaches a model server that is shutting down.
        names = []
        router = [p for p in state.processes if p.name == "router"]
        rest = [p for p in state.processes if p.name != "router"]
        for record in router + rest:
            if is_alive(record):
                progress(f"stopping {record.name} (pid {record.pid})")
                names.append(record.name)
        stop_together(router)
        # The rest together: nothing routes to them any more. Workers are normally gone with their parent;
        # not if the parent died first.
        stop_together(rest + state.workers)
        self.state_file.unlink(missing_ok=True)
        return names

    def prediction_log(self, version: str) -> Path:
        """Where the version's server writes its prediction log (zoo/server.py's serving_env)."""
        return self.dir / "serving" / version / PREDICTION_LOG

    def retire(self, version: str) -> str:
        """Stop one version's server (and its workers) once no routing state uses it; the rest keeps running.

        A lab that was up before this run is the user's: a blue-green leaves its blue running there."""
        if self.prepared and not self.started_here:
            return f"{version} left running: the lab was up before this run"
        state = self.running_state()
        if state is None or version not in state.versions:
            return f"{version} was not running"
        record = next(p for p in state.processes if p.name == f"model {version}")
        children = {c.pid for c in descendants(record)}
        stop(record)
        for worker in [w for w in state.workers if w.pid in children]:
            stop(worker)
        state.processes = [p for p in state.processes if p is not record]
        state.workers = [w for w in state.workers if w.pid not in children]
        del state.versions[version]
        self._save(state)
        return f"stopped {version} (pid {record.pid}): it no longer serves any traffic"

    def _clear_stale(self) -> None:
        state = self.load_state()
        if state is not None:
            self._stop_all(state)  # leftovers of a crashed lab: only their own process groups
        for sub in ("nginx", "prometheus", "serving"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)

    def status(self) -> dict[str, object]:
        state = self.load_state()
        if state is None:
            return {"up": False}
        processes = {p.name: {"pid": p.pid, "alive": is_alive(p), "log": p.log} for p in state.processes}
        result: dict[str, object] = {"up": any(p["alive"] for p in processes.values()),
                                     "endpoints": state.endpoints.__dict__, "processes": processes}
        try:
            result["routing"] = self.router().current().to_dict()
        except (LabError, RoutingError):
            pass
        return result


def needs_drift_monitor(scenario: ScenarioBase) -> bool:
    """Whether a scenario's lab needs the drift monitor: its load drifts, or a check reads a drift series."""
    return bool(drift_uses(scenario))
