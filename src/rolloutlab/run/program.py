"""Run a scenario on the local target: bring the lab up if needed, drive the engine, write the report.

`drive` is the target-neutral part (engine, journal, summary); run/cluster.py runs it on a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.engine import Engine, Hooks, Load, OnEvent, RunOutcome
from rolloutlab.errors import LabError
from rolloutlab.journal import Journal
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.sampler import LiveSampler
from rolloutlab.metrics.prometheus import PrometheusSource
from rolloutlab.paths import new_run_dir, project_root
from rolloutlab.report.build import build_report
from rolloutlab.report.evidence import save_evidence
from rolloutlab.probes import RouterProbes
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.scenario import BlueGreenScenario, Smoke, ScenarioBase
from rolloutlab.strategies.base import Strategy
from rolloutlab.strategies.factory import check_feasible, strategy_for
from rolloutlab.targets.local import LocalTarget
from rolloutlab import zoo

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunReport:
    outcome: RunOutcome
    run_dir: Path
    journal: Path
    summary: Path
    html: Path | None = None


def plan_strategy(scenario: ScenarioBase, progress: Progress) -> Strategy:
    """Build the versions (once each), read their held-out accuracy, and check the design can finish:
    an experiment the load cannot power is refused here, before any process starts."""
    started = time.monotonic()
    built = zoo.ensure_built(scenario.versions.all, progress=progress)
    if built:  # the same line as LocalTarget.up prints (the fresh-machine test reads the build time from it)
        progress(f"built model versions {', '.join(built)} into {zoo.bentoml_home()} "
                 f"in {time.monotonic() - started:.0f}s")
    catalogue = zoo.load_catalogue()
    rates = {v: float(e["accuracy"]) for v in scenario.versions.all
             if (e := zoo.evaluation(catalogue, v)) is not None and e.get("accuracy") is not None}
    plan = check_feasible(scenario, rates)
    if plan:
        progress(plan)
    return strategy_for(scenario, rates)


def run_scenario(
    scenario: ScenarioBase,
    home: Path,
    *,
    keep_up: bool = False,
    router_port: int | None = None,
    ready_timeout: float = 90.0,
    progress: Progress = lambda _: None,
    on_event: OnEvent | None = None,
) -> RunReport:
    target = LocalTarget(home)
    versions = scenario.versions.all
    strategy = plan_strategy(scenario, progress)
    running = target.running_state()
    started_here = running is None
    if running is not None:
        missing = [v for v in versions if v not in running.versions]
        if missing:
            raise LabError(
                f"the running lab serves {', '.join(running.versions)} but {scenario.name} needs "
                f"{', '.join(missing)}; run `rolloutlab down` first"
            )
        progress(f"using the running lab at {running.endpoints.router_url}")
    else:
        target.up(versions, router_port=router_port, ready_timeout=ready_timeout, progress=progress)
    try:
        state = target.running_state()
        assert state is not None
        endpoints = state.endpoints
        run_dir = new_run_dir(home, scenario.name)
        progress(f"run directory {run_dir}")
        journal = Journal(run_dir / "journal.jsonl")
        load = LocustRunner(
            LoadSpec.from_load(
                scenario.load,  # its shape, seed, population and feedback delay; the rollout sets the duration
                host=endpoints.router_url,
                holdout=zoo.holdout_path(),
                max_seconds=load_bound(scenario),
                keep_duration=False,
                locustfile=project_root() / "loadtests" / "locustfile.py",
                file_sd_dir=target.file_sd_dir,  # client metrics beside the servers' in Prometheus
                labels={"run": run_dir.name},
            ),
            run_dir / "load",
        )
        metrics = PrometheusSource(endpoints.prometheus_url)
        # A lab that was up before this run is the user's: a blue-green leaves its blue running there.
        retire = target.retire if started_here else (lambda v: f"{v} left running: the lab was up before this run")
        hooks = RouterProbes(endpoints.router_url, zoo.holdout_path(), smoke_spec(scenario), metrics, retire,
                             target.prediction_log, endpoints.versions, run_dir)
        return drive(scenario, run_dir, journal, target.router(), metrics, load=load, hooks=hooks,
                     progress=progress, strategy=strategy, run_label=run_dir.name, on_event=on_event,
                     # While Prometheus and the servers still run (also after an abort or a crash of the
                     # engine): what the report needs beyond the journal, so it can be rebuilt later.
                     evidence=lambda: save_evidence(run_dir, metrics, versions, target.prediction_log))
    finally:
        if started_here and not keep_up:
            progress("stopping the lab")
            target.down()


def load_bound(scenario: ScenarioBase) -> float:
    """Seconds a run's load may last at most, even if this process dies: every step at its limits, plus slack."""
    a = scenario.analysis
    return scenario.expected_seconds * (1 + a.inconclusive_limit + a.failure_limit) + 120


def smoke_spec(scenario: ScenarioBase) -> Smoke:
    """The scenario's smoke tests (blue-green), else the defaults."""
    return scenario.smoke if isinstance(scenario, BlueGreenScenario) else Smoke()


def drive(
    scenario: ScenarioBase,
    run_dir: Path,
    journal: Journal,
    router: TrafficRouter,
    metrics: MetricsSource,
    *,
    load: Load | None,
    hooks: Hooks | None,
    after: Callable[[Engine], None] | None = None,
    evidence: Callable[[], None] | None = None,
    progress: Progress = lambda _: None,
    strategy: Strategy | None = None,
    run_label: str | None = None,
    on_event: OnEvent | None = None,
) -> RunReport:
    """Run the scenario's strategy with these parts (any target), then write the reports.

    `after` runs once the engine has finished, whatever the outcome (aborts and internal errors too),
    before the journal closes: a cluster run records the routing in force there. `evidence` saves what
    the report needs beyond the journal (Prometheus series, prediction logs) while the lab still runs.
    """
    engine = Engine(scenario, strategy or strategy_for(scenario), router, metrics, journal, load=load, hooks=hooks,
                    progress=progress, run_label=run_label, on_event=on_event)
    sampler = LiveSampler(metrics, on_event).start() if on_event is not None else None
    try:
        try:
            outcome = engine.execute()
        finally:
            if after is not None:
                after(engine)
    finally:
        if sampler is not None:
            sampler.stop()
        journal.close()
        if evidence is not None:
            evidence()
        files = build_report(run_dir)
    return RunReport(outcome, run_dir, journal.path, files.summary, files.html)
