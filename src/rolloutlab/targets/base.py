"""The Target contract: everything a run needs from where it runs, so one run program serves every target.

The engine, the strategies and the reports never learn which target they are on: run/program.py asks a
Target for the versions, a router, a metrics source, the endpoints, prediction logs, the load, retire and
teardown, and hands them on. LocalTarget (processes on 127.0.0.1) and KubernetesTarget (a Pulumi stack
through port-forwards) implement it; targets/factory.py is the only place that picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rolloutlab.engine import Engine, Load
    from rolloutlab.journal import Journal
    from rolloutlab.load.locust_runner import LoadSpec
    from rolloutlab.metrics.base import MetricsSource
    from rolloutlab.routers.base import TrafficRouter
    from rolloutlab.scenario import ScenarioBase
    from rolloutlab.targets.local import Endpoints

Progress = Callable[[str], None]


class Target(Protocol):
    """Where a run runs. Every method raises a RolloutLabError (never a third-party exception)."""

    # kind names the target in the journal and in messages ("local", "kubernetes").
    kind: str

    # prepare finds the scenario's versions running or brings them up; True when this run started them
    # (then teardown stops what it started, and a retired version may be stopped).
    def prepare(self, scenario: ScenarioBase, progress: Progress) -> bool: ...

    # builds_versions is True when prepare builds the versions itself (so planning may build them first).
    builds_versions: bool

    # endpoints returns the router's URL, Prometheus' URL and each version's own URL (gates, smoke probes).
    def endpoints(self) -> Endpoints: ...

    # router returns the TrafficRouter the engine applies every routing state through.
    def router(self) -> TrafficRouter: ...

    # metrics returns the MetricsSource every check reads; it raises MetricsUnavailable naming what is down.
    def metrics(self) -> MetricsSource: ...

    # prediction_log returns a file holding the version's prediction log (JSON lines) as of now.
    def prediction_log(self, version: str) -> Path: ...

    # load returns the run's load generator for this spec (host and metrics wiring are the target's).
    def load(self, spec: LoadSpec, run_dir: Path, progress: Progress) -> Load: ...

    # failures_query is the PromQL ($w = window) counting the requests users saw fail around a switch.
    failures_query: str

    # retire takes a version out of service once no routing state uses it (only what prepare started may
    # be stopped); returns what was done.
    def retire(self, version: str) -> str: ...

    # describe returns what the journal's "target" record says about this target.
    def describe(self) -> dict[str, Any]: ...

    # after_run is called once the engine has finished, whatever the outcome, before the journal closes.
    def after_run(self, router: TrafficRouter, journal: Journal, progress: Progress) -> Callable[[Engine], None]: ...

    # teardown stops what prepare started (nothing when prepare found everything running).
    def teardown(self, progress: Progress) -> None: ...
