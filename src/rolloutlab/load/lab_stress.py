"""Stress one version of the local lab: use the running lab, or start one serving just that version."""

from __future__ import annotations

from collections.abc import Callable

from rolloutlab import zoo
from rolloutlab.errors import LabError
from rolloutlab.paths import new_run_dir
from rolloutlab.load.locust_runner import LocustRunner
from rolloutlab.load.stress import StressResult, run_stress
from rolloutlab.load.stress_plan import StepResult, StressPlan
from rolloutlab.paths import lab_home
from rolloutlab.targets.local import LocalTarget


def stress_version(version: str, plan: StressPlan, *, via_router: bool = False, keep_up: bool = False,
                   ready_timeout: float = 90.0, progress: Callable[[str], None] = lambda _: None,
                   on_step: Callable[[StepResult], None] = lambda _: None,
                   on_start: Callable[[LocustRunner], None] = lambda _: None) -> StressResult:
    """Stress `version` straight at its model server (or through the router, pinned with x-model-version)."""
    home = lab_home()
    target = LocalTarget(home)
    state = target.running_state()
    started_here = state is None
    if state is None:
        progress(f"the lab is not up: starting one that serves {version}")
        target.up([version], ready_timeout=ready_timeout, progress=progress)
        state = target.running_state()
        if state is None:
            raise LabError("the lab stopped right after starting; see its logs under " + str(target.dir / "logs"))
    elif version not in state.versions:
        raise LabError(f"the running lab serves {', '.join(state.versions)}, not {version!r}; "
                       f"`rolloutlab down` first, or stress one of those")
    try:
        host = state.endpoints.router_url if via_router else state.endpoints.versions[version]
        run_dir = new_run_dir(home, f"stress-{version}")
        progress(f"run directory {run_dir}")
        return run_stress(plan, version=version, host=host, holdout=zoo.holdout_path(), run_dir=run_dir,
                          force_version=version if via_router else None, file_sd_dir=target.file_sd_dir,
                          on_step=on_step, on_start=on_start)
    finally:
        if started_here and not keep_up:
            progress("stopping the lab")
            target.down()
