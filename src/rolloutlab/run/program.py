"""The one run program: a scenario's strategy, driven by the engine over any Target (targets/base.py).

`run_scenario` asks the Target for everything that depends on where the run runs; `drive` is the
target-neutral part (engine, journal, reports), also used by tests that bring their own parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.engine import Engine, Hooks, Load, OnEvent, RunOutcome
from rolloutlab.errors import LabError, RolloutLabError
from rolloutlab.faults import Watch
from rolloutlab.journal import Journal
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.metrics.sampler import LiveSampler
from rolloutlab.paths import new_run_dir, project_root
from rolloutlab.report.build import build_report
from rolloutlab.report.evidence import save_evidence
from rolloutlab.probes import RouterProbes
from rolloutlab.routers.base import TrafficRouter
from rolloutlab.scenario import AbTestScenario, BanditScenario, BlueGreenScenario, ScenarioBase, Smoke
from rolloutlab.strategies.base import Strategy
from rolloutlab.strategies.factory import check_feasible, strategy_for
from rolloutlab.targets.base import Target
from rolloutlab import zoo

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunReport:
    outcome: RunOutcome
    run_dir: Path
    journal: Path
    summary: Path
    html: Path | None = None


def plan_strategy(scenario: ScenarioBase, progress: Progress, *, build: bool = True) -> Strategy:
    """Read the versions' held-out accuracy (building them once each if needed) and check the design can finish:
    an experiment the load cannot power is refused here, before anything starts.

    build=False (a cluster, whose images are already built): build only when the strategy needs a rate the
    local store does not hold yet (an A/B test without baseline_rate, a bandit's oracle)."""
    if build or _missing_rates(scenario):
        started = time.monotonic()
        built = zoo.ensure_built(scenario.versions.all, progress=progress)
        if built:  # the same line as LocalTarget.up prints (the fresh-machine test reads the build time from it)
            progress(f"built model versions {', '.join(built)} into {zoo.bentoml_home()} "
                     f"in {time.monotonic() - started:.0f}s")
    rates = held_out_rates(scenario)
    plan = check_feasible(scenario, rates)
    if plan:
        progress(plan)
    return strategy_for(scenario, rates)


def held_out_rates(scenario: ScenarioBase) -> dict[str, float]:
    """Each built version's held-out accuracy from the local store (versions not built are left out)."""
    catalogue = zoo.load_catalogue()
    return {v: float(e["accuracy"]) for v in scenario.versions.all
            if (e := zoo.evaluation(catalogue, v)) is not None and e.get("accuracy") is not None}


def _missing_rates(scenario: ScenarioBase) -> bool:
    if isinstance(scenario, BanditScenario) or (
            isinstance(scenario, AbTestScenario) and scenario.experiment.baseline_rate is None):
        return any(v not in held_out_rates(scenario) for v in scenario.versions.all)
    return False


def run_scenario(scenario: ScenarioBase, target: Target, home: Path, *, progress: Progress = lambda _: None,
                 on_event: OnEvent | None = None) -> RunReport:
    """The one run program: the scenario's strategy, driven by the engine over any Target, then the reports."""
    holdout = zoo.holdout_path()
    strategy = plan_strategy(scenario, progress, build=target.builds_versions)
    versions = scenario.versions.all
    # Before anything starts: a read-only or full disk is one clear error, not an abort half-way.
    run_dir = new_run_dir(home, scenario.name)
    try:
        target.prepare(scenario, progress)  # a target that cannot run the scenario says why before all else
    except BaseException:
        run_dir.rmdir()  # still empty: no run happened, `rolloutlab runs` should not list one
        raise
    try:
        if not holdout.is_file():
            raise LabError(f"no held-out rows at {holdout} (smoke tests, gates and the load send them); "
                           "`rolloutlab models build v1` writes them")
        endpoints = target.endpoints()
        progress(f"run directory {run_dir}")
        journal = Journal(run_dir / "journal.jsonl")
        journal.write("target", **target.describe())
        load = target.load(LoadSpec.from_load(
            scenario.load,  # its shape, seed, population and feedback delay; the rollout sets the duration
            host=endpoints.router_url, holdout=holdout, max_seconds=load_bound(scenario), keep_duration=False,
            locustfile=project_root() / "loadtests" / "locustfile.py",
            labels={"run": run_dir.name}), run_dir, progress)
        metrics = target.metrics()
        router = target.router()
        hooks = RouterProbes(endpoints.router_url, holdout, smoke_spec(scenario), metrics, target.retire,
                             target.prediction_log, endpoints.versions, run_dir, failures_query=target.failures_query)
        return drive(scenario, run_dir, journal, router, metrics, load=load, hooks=hooks, progress=progress,
                     watch=target.watch() if hasattr(target, "watch") else None,  # the local lab's PIDs
                     strategy=strategy, run_label=run_dir.name, on_event=on_event,
                     after=_with_load_stats(load, journal, target.after_run(router, journal, progress)),
                     # While Prometheus and the servers still run (also after an abort or a crash of the
                     # engine): what the report needs beyond the journal, so it can be rebuilt later.
                     evidence=lambda: save_evidence(run_dir, metrics, versions, _tolerant(target.prediction_log, progress)))
    finally:
        target.teardown(progress)


def _tolerant(log_of: Callable[[str], Path], progress: Progress) -> Callable[[str], Path]:
    """The report's copy of the prediction logs is evidence, not the verdict: a log that cannot be read is
    said and left out (a path that does not exist), so the report is still written."""

    def read(version: str) -> Path:
        try:
            return log_of(version)
        except RolloutLabError as exc:
            progress(f"WARNING: {version}'s prediction log is not in the report: {exc}")
            return Path("/nonexistent") / version

    return read


def _with_load_stats(load: Load, journal: Journal, after: Callable[[Engine], None]) -> Callable[[Engine], None]:
    """`after`, preceded by the load generator's own totals where it keeps them apart (the in-cluster Locust's;
    a local run's are in its load/ CSV files)."""

    def both(engine: Engine) -> None:
        stats = getattr(load, "stats", lambda: None)()
        if stats is not None and not isinstance(load, LocustRunner):
            journal.write("load_stats", **stats.__dict__)
        after(engine)

    return both


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
    watch: Watch | None = None,
) -> RunReport:
    """Run the scenario's strategy with these parts (any target), then write the reports.

    `after` runs once the engine has finished, whatever the outcome (aborts and internal errors too),
    before the journal closes: a cluster run records the routing in force there. `evidence` saves what
    the report needs beyond the journal (Prometheus series, prediction logs) while the lab still runs.
    """
    engine = Engine(scenario, strategy or strategy_for(scenario), router, metrics, journal, load=load, hooks=hooks,
                    progress=progress, run_label=run_label, on_event=on_event, watch=watch)
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
