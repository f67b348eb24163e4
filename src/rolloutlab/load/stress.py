"""`rolloutlab stress`: step the load on one version up until its SLO breaks; report the limit and the knee."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rolloutlab.load.client_metrics import Snapshot, window
from rolloutlab.load.knee import kneedle, last_passing_before_break
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.load.session import LoadMonitor
from rolloutlab.load.stress_plan import StepResult, StressPlan, judge_step


@dataclass
class StressResult:
    version: str
    target: str
    plan: StressPlan
    steps: list[StepResult]
    broke: bool
    stopped_because: str
    run_dir: Path
    plot: Path | None = None

    @property
    def sustainable(self) -> StepResult | None:
        """The last step that met the SLO before the first that did not."""
        judged = [s for s in self.steps if s.judged]
        index = last_passing_before_break([s.ok for s in judged])
        return None if index is None else judged[index]

    @property
    def knee(self) -> StepResult | None:
        """Where p95 latency stops being flat and starts to climb with the offered load."""
        judged = [s for s in self.steps if s.judged]
        index = kneedle([s.offered_rps for s in judged], [s.p95_ms for s in judged])
        return None if index is None else judged[index]

    def to_dict(self) -> dict[str, object]:
        sustainable, knee = self.sustainable, self.knee
        return {
            "version": self.version, "target": self.target, "plan": asdict(self.plan), "broke": self.broke,
            "stopped_because": self.stopped_because,
            "highest_sustainable_rps": sustainable.achieved_rps if sustainable else None,
            "sustainable_step": sustainable.index if sustainable else None,
            "knee_rps": knee.offered_rps if knee else None, "knee_step": knee.index if knee else None,
            "steps": [s.to_dict() for s in self.steps], "plot": str(self.plot) if self.plot else None,
        }


def _close_step(plan: StressPlan, index: int, snaps: list[Snapshot]) -> StepResult | None:
    """Judge one level from its snapshots, skipping the settling seconds at its start."""
    start = next((s for s in snaps if s.at >= snaps[0].at + plan.settle), None)
    if start is None or start is snaps[-1]:
        return None
    return judge_step(plan, index, window(start, snaps[-1]))


def run_stress(plan: StressPlan, *, version: str, host: str, holdout: Path, run_dir: Path,
               force_version: str | None = None, file_sd_dir: Path | None = None,
               on_step: Callable[[StepResult], None] = lambda _: None,
               on_start: Callable[[LocustRunner], None] = lambda _: None) -> StressResult:
    """Run the steps (no feedback: this measures predictions only); stop at the first step that breaks."""
    spec = LoadSpec(
        host=host, holdout=holdout, max_seconds=plan.seconds + 60, users=plan.max_users,
        rate_per_user=plan.rate_per_user, seed=plan.seed, shape="step", shape_params=plan.shape_params(),
        duration=plan.seconds, feedback_delay=None, workers=plan.workers, force_version=force_version,
        file_sd_dir=file_sd_dir, labels={"run": run_dir.name, "stress": version},
    )
    runner = LocustRunner(spec, run_dir / "load", name="stress")
    monitor = LoadMonitor(runner, run_dir / "progress.jsonl")
    steps: list[StepResult] = []
    offered = plan.max_users * plan.rate_per_user
    stopped_because = f"the SLO held up to {plan.max_users} users ({offered:g} req/s offered)"
    broke = False
    runner.start()
    monitor.started = time.monotonic()
    try:
        on_start(runner)
        level, level_snaps = 0.0, []
        deadline = monitor.started + plan.seconds + 30
        while time.monotonic() < deadline:
            time.sleep(1.0)
            sample = monitor.sample()
            snap = monitor.snapshots[-1] if sample is not None else None
            if snap is not None and snap.target_users == level:
                level_snaps.append(snap)
                continue
            # The shape moved to the next level (or the run ended): judge the level just left.
            step = _close_step(plan, len(steps), level_snaps) if level > 0 and level_snaps else None
            if step is not None:
                steps.append(step)
                on_step(step)
                if step.judged and not step.ok:
                    broke = True
                    stopped_because = f"the SLO broke at step {step.index + 1}: {'; '.join(step.breaches)}"
                    break
            if snap is None or not runner.alive():
                break
            level, level_snaps = snap.target_users, [snap]
    finally:
        runner.stop()
    result = StressResult(version, host, plan, steps, broke, stopped_because, run_dir)
    _write_artifacts(result)
    return result


def _write_artifacts(result: StressResult) -> None:
    from rolloutlab.load.plot import plot_stress

    if result.steps:
        result.plot = plot_stress(result, result.run_dir / "stress.png")
        with open(result.run_dir / "steps.csv", "w", newline="", encoding="utf-8") as handle:
            rows = [s.to_dict() for s in result.steps]
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: ("; ".join(v) if isinstance(v, tuple) else v) for k, v in row.items()} for row in rows)
    (result.run_dir / "stress.json").write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
