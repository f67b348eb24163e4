"""Run a load shape to its end while watching it: progress samples, a dead target caught fast, artifacts.

Used by `rolloutlab load`; the monitor is shared with `rolloutlab stress`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rolloutlab.errors import LoadError
from rolloutlab.load.client_metrics import Snapshot, Window, read_exporters, window
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner

DOWN_AFTER = 5.0  # seconds of nothing but connection errors: the target is down
IDLE_AFTER = 15.0  # seconds with users running and no request completing at all: the target hangs
SHAPE_FINISHED = "the shape finished"
P95_WINDOW = 5.0  # the progress view's p95 covers this many seconds (one second holds too few samples)


@dataclass(frozen=True)
class Sample:
    """One progress reading: the last interval for rates, the last few seconds for p95."""

    elapsed: float
    last: Window
    recent: Window


class LoadMonitor:
    """Reads the runner's exporters every interval, keeps the snapshots, and raises if the target died."""

    def __init__(self, runner: LocustRunner, progress_file: Path | None = None) -> None:
        self.runner = runner
        self.snapshots: list[Snapshot] = []
        self.started = time.monotonic()
        self.progress_file = progress_file
        self._busy_since: float | None = None

    def sample(self) -> Sample | None:
        snap = read_exporters(self.runner.metrics_urls)
        if snap.answered == 0:
            return None  # between the last users stopping and the process exiting
        if not self.snapshots:
            self.snapshots.append(Snapshot(at=self.started))
        self.snapshots.append(snap)
        last = window(self.snapshots[-2], snap)
        recent = window(self._at_or_before(snap.at - P95_WINDOW), snap)
        sample = Sample(snap.at - self.started, last, recent)
        self._record(sample)
        self._check_target(snap)
        return sample

    def _at_or_before(self, moment: float) -> Snapshot:
        for snap in reversed(self.snapshots):
            if snap.at <= moment:
                return snap
        return self.snapshots[0]

    def _check_target(self, snap: Snapshot) -> None:
        host = self.runner.spec.host
        down = window(self._at_or_before(snap.at - DOWN_AFTER), snap)
        if snap.at - self.started >= DOWN_AFTER and down.total.requests > 0 \
                and down.connection_errors == down.total.requests:
            raise LoadError(f"the target {host} stopped answering: all {down.total.requests:.0f} requests of the "
                            f"last {DOWN_AFTER:.0f}s got no response; is the lab still up? (`rolloutlab status`)")
        if snap.users <= 0:
            self._busy_since = None
            return
        self._busy_since = self._busy_since or snap.at
        idle = window(self._at_or_before(snap.at - IDLE_AFTER), snap)
        if snap.at - self._busy_since >= IDLE_AFTER and idle.total.requests == 0:
            raise LoadError(f"the target {host} hangs: {snap.users:.0f} users and not one request completed "
                            f"in {IDLE_AFTER:.0f}s")

    def _record(self, sample: Sample) -> None:
        if self.progress_file is None:
            return
        record = {
            "elapsed_s": round(sample.elapsed, 2), "users": sample.last.users, "target_users": sample.last.target_users,
            "rps": _round(sample.last.total.rps), "failures": sample.last.total.failures,
            "p95_ms": _round(sample.recent.total.p95_ms), "cpu_percent": _round(sample.last.cpu_percent),
            "versions": {v: {"rps": _round(w.rps), "failures": w.failures,
                             "p95_ms": _round(sample.recent.versions[v].p95_ms) if v in sample.recent.versions else None}
                         for v, w in sample.last.versions.items()},
            "feedback": sample.last.feedback,
        }
        with open(self.progress_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


@dataclass
class LoadResult:
    """The run as a whole, from the processes' final counters (or the last reading if they were killed)."""

    spec: dict[str, Any]
    run_dir: Path
    seconds: float
    ended_by: str
    totals: Window
    locust: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def successes(self) -> float:
        return self.totals.outcomes.get("ok", 0.0)

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "spec": self.spec, "seconds": round(self.seconds, 2), "ended_by": self.ended_by,
            "predictions": {"requests": t.total.requests, "failures": t.total.failures, "rps": _round(t.total.rps),
                            "p50_ms": _round(t.total.p50_ms), "p95_ms": _round(t.total.p95_ms), "outcomes": t.outcomes},
            "versions": {v: {**asdict(w), "p50_ms": _round(w.p50_ms), "p95_ms": _round(w.p95_ms), "rps": _round(w.rps)}
                         for v, w in t.versions.items()},
            "feedback": t.feedback,
            "locust": self.locust,
        }


def run_load(spec: LoadSpec, run_dir: Path, *, interval: float = 2.0, seconds: float,
             on_sample: Callable[[Sample], None] = lambda _: None,
             on_start: Callable[[LocustRunner], None] = lambda _: None) -> LoadResult:
    """Run the spec's shape for `seconds` (or until it ends by itself), sampling every interval.

    Raises LoadError if the target is down at the start, dies or hangs during the run, or if not one
    prediction succeeded; the Locust processes are stopped on every path.
    """
    runner = LocustRunner(spec, run_dir)
    monitor = LoadMonitor(runner, run_dir / "progress.jsonl")
    ended_by = "interrupted"
    runner.start()
    monitor.started = time.monotonic()
    try:
        on_start(runner)
        deadline = monitor.started + seconds
        while True:
            if not runner.alive():
                ended_by = SHAPE_FINISHED
                break
            if time.monotonic() >= deadline:
                ended_by = f"the duration ({seconds:g}s) was reached"
                break
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
            sample = monitor.sample()
            if sample is not None:
                on_sample(sample)
    except LoadError as exc:
        ended_by = f"error: {exc}"
        raise
    finally:
        runner.stop()
        elapsed = time.monotonic() - monitor.started
        result = _result(spec, runner, monitor, run_dir, elapsed, ended_by)
        (run_dir / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
    if result.totals.total.requests == 0:
        raise LoadError(f"not one prediction completed against {spec.host} in {elapsed:.0f}s; see {run_dir}/locust.log")
    if result.successes == 0:
        outcomes = ", ".join(f"{k} {v:.0f}" for k, v in sorted(result.totals.outcomes.items()))
        raise LoadError(f"every prediction failed ({outcomes}); see {run_dir}")
    return result


def _result(spec: LoadSpec, runner: LocustRunner, monitor: LoadMonitor, run_dir: Path, elapsed: float,
            ended_by: str) -> LoadResult:
    final = runner.final_metrics() or (monitor.snapshots[-1] if monitor.snapshots else Snapshot())
    # Rates over the time users ran: a shape that ended by itself ran exactly its duration.
    active = min(elapsed, spec.duration) if spec.duration and ended_by == SHAPE_FINISHED else elapsed
    final.at = monitor.started + active
    totals = window(Snapshot(at=monitor.started), final)
    spec_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()}
    return LoadResult(spec_dict, run_dir, elapsed, ended_by, totals, runner.stats_rows())
