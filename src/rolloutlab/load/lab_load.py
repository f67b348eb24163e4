"""Plan a `rolloutlab load` run against the running lab: its target, load section, run directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rolloutlab import zoo
from rolloutlab.errors import LabError
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.load.options import build_load
from rolloutlab.scenario.load import LoadBase
from rolloutlab.load.session import LoadResult, Sample, run_load
from rolloutlab.paths import lab_home, new_run_dir
from rolloutlab.targets.local import LocalTarget

BOUND_SLACK = 30.0  # the processes' hard bound: the planned time plus this


@dataclass(frozen=True)
class LoadPlan:
    spec: LoadSpec
    load: LoadBase
    seconds: float
    run_dir: Path

    @property
    def describe(self) -> str:
        return self.load.describe()


def lab_target(direct_version: str | None, host: str | None) -> tuple[str, Path | None]:
    """(URL to load, Prometheus file_sd directory or None) for the running lab or an explicit host."""
    target = LocalTarget(lab_home())
    state = target.running_state()
    file_sd = target.file_sd_dir if state is not None else None
    if host:
        return host, file_sd
    if state is None:
        raise LabError("the lab is not up: start it with `rolloutlab up` (or load another local service with "
                       "--host http://127.0.0.1:PORT)")
    if direct_version is None:
        return state.endpoints.router_url, file_sd
    if direct_version not in state.versions:
        raise LabError(f"the running lab serves {', '.join(state.versions)}, not {direct_version!r}")
    return state.endpoints.versions[direct_version], file_sd


def plan_load(scenario: str | None, options: dict[str, Any], overrides: list[str], *, workers: int = 0,
              direct_version: str | None = None, host: str | None = None) -> LoadPlan:
    """Validate everything and pick the target before anything starts."""
    base = None
    if scenario is not None:
        from rolloutlab.scenario import load_scenario

        base = load_scenario(scenario).load
    load = build_load(base, options, overrides)
    url, file_sd = lab_target(direct_version, host)
    seconds = load.planned_seconds()
    spec = LoadSpec.from_load(load, host=url, holdout=zoo.holdout_path(), max_seconds=seconds + BOUND_SLACK,
                              workers=workers, file_sd_dir=file_sd)
    run_dir = new_run_dir(lab_home(), f"load-{load.shape_name}")
    # The shape runs exactly as long as planned, however long the default of its model is.
    spec = replace(spec, duration=seconds, labels={"run": run_dir.name})
    return LoadPlan(spec, load, seconds, run_dir)


def run_planned_load(plan: LoadPlan, *, interval: float, on_sample: Callable[[Sample], None],
                     on_start: Callable[[LocustRunner], None]) -> LoadResult:
    return run_load(plan.spec, plan.run_dir, interval=interval, seconds=plan.seconds + 5,
                    on_sample=on_sample, on_start=on_start)
