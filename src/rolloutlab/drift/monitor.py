"""The drift monitor: tails each version's prediction log, evaluates sliding windows, exports to Prometheus.

Series (one per version and detector, on the run's timeline beside the servers' own):
  rolloutlab_drift_statistic{model_version, detector}   the last window's value (window.DIRECTIONS)
  rolloutlab_drift_threshold{model_version, detector}   its calibrated alarm threshold
  rolloutlab_drift_alarm{model_version, detector}       1 while the last window is past it
  rolloutlab_drift_rows_total{model_version}            sampled rows read from the log
  rolloutlab_drift_windows_total{model_version}         windows evaluated
  rolloutlab_drift_seconds_total{model_version}         CPU time spent on them (the monitor's cost)
The log explains an alarm: each window's drifted features and new-value pixels go to the monitor's own
JSON-lines log, with the request ids of the window.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from rolloutlab.drift.calibration import Thresholds
from rolloutlab.drift.feature_tests import feature_drift
from rolloutlab.drift.new_values import new_value_features
from rolloutlab.drift.window import DIRECTIONS, Facts, VersionDetectors

WINDOW = 100  # sampled rows per window
STEP = 25  # a new evaluation every STEP sampled rows (sliding windows)


class LogTail:
    """The new complete lines of a growing JSON-lines file, from where the last call stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a torn line from a crashed writer: skip it, keep reading
        return records


@dataclass
class VersionWindow:
    """The sliding window of one version's sampled rows, and what the last evaluation found."""

    version: str
    detectors: VersionDetectors
    thresholds: Thresholds
    facts: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    request_ids: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    since_last: int = 0
    rows: int = 0
    windows: int = 0
    cpu_seconds: float = 0.0
    last: dict[str, float] = field(default_factory=dict)
    alarms: dict[str, bool] = field(default_factory=dict)

    def add(self, records: list[dict[str, Any]]) -> None:
        rows = [(r["request_id"], f) for r in records
                if r.get("kind") == "prediction" and r.get("features") and not r.get("mirrored")
                for f in r["features"]]
        if not rows:
            return
        started = time.process_time()
        batch = self.detectors.facts(np.asarray([f for _, f in rows], dtype=float))
        for index, (request_id, _) in enumerate(rows):
            self.facts.append(batch.take(np.array([index])))
            self.request_ids.append(request_id)
        self.cpu_seconds += time.process_time() - started
        self.rows += len(rows)
        self.since_last += len(rows)

    def due(self) -> bool:
        return len(self.facts) == WINDOW and self.since_last >= STEP

    def evaluate(self) -> dict[str, Any]:
        """Statistics and alarms of the current window; the explanation record for the log."""
        started = time.process_time()
        window = Facts.concat(list(self.facts))
        self.last = self.detectors.statistics(window)
        self.alarms = self.thresholds.alarms(self.last)
        self.since_last = 0
        self.windows += 1
        drifted = feature_drift(self.detectors.reference, window.x).drifted(0.01)
        self.cpu_seconds += time.process_time() - started
        return {"ts": round(time.time(), 3), "version": self.version, "statistics": self.last,
                "alarms": sorted(k for k, v in self.alarms.items() if v), "drifted_features": drifted,
                "new_value_features": new_value_features(self.detectors.reference, window.x),
                "request_ids": [self.request_ids[0], self.request_ids[-1]]}


class Exporter:
    """The monitor's series in a registry of its own, served on 127.0.0.1:port/metrics."""

    def __init__(self, port: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.registry = CollectorRegistry()
        labels = ["model_version", "detector"]
        self.statistic = Gauge("rolloutlab_drift_statistic", "Last window's drift statistic", labels,
                               registry=self.registry)
        self.threshold = Gauge("rolloutlab_drift_threshold", "Calibrated alarm threshold", labels,
                               registry=self.registry)
        self.alarm = Gauge("rolloutlab_drift_alarm", "1 while the last window is past the threshold", labels,
                           registry=self.registry)
        self.rows = Counter("rolloutlab_drift_rows", "Sampled rows read", ["model_version"], registry=self.registry)
        self.windows = Counter("rolloutlab_drift_windows", "Windows evaluated", ["model_version"],
                               registry=self.registry)
        self.seconds = Counter("rolloutlab_drift_seconds", "CPU seconds spent by the monitor", ["model_version"],
                               registry=self.registry)
        self.ready = Gauge("rolloutlab_drift_ready", "1 once the version's thresholds are calibrated",
                           ["model_version"], registry=self.registry)
        self.server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def publish(self, state: VersionWindow, rows: int, seconds: float) -> None:
        self.rows.labels(model_version=state.version).inc(rows)
        self.seconds.labels(model_version=state.version).inc(seconds)
        for name, limit in state.thresholds.values.items():
            if not np.isnan(limit):
                self.threshold.labels(model_version=state.version, detector=name).set(limit)
        if not state.last:
            return
        for name in DIRECTIONS:
            value = state.last.get(name, float("nan"))
            if not np.isnan(value):
                self.statistic.labels(model_version=state.version, detector=name).set(value)
                self.alarm.labels(model_version=state.version, detector=name).set(int(state.alarms.get(name, False)))


def run(windows: dict[str, VersionWindow], logs: dict[str, Path], exporter: Exporter, explain: IO[str],
        poll_seconds: float = 0.5, should_stop: Any = lambda: False) -> None:
    """Tail every log, evaluate due windows, publish; until should_stop() says so."""
    tails = {version: LogTail(path) for version, path in logs.items()}
    while not should_stop():
        for version, tail in tails.items():
            state = windows[version]
            rows_before, seconds_before = state.rows, state.cpu_seconds
            state.add(tail.read())
            evaluated = False
            if state.due():
                explain.write(json.dumps(state.evaluate()) + "\n")
                explain.flush()
                evaluated = True
            exporter.publish(state, state.rows - rows_before, state.cpu_seconds - seconds_before)
            if evaluated:
                exporter.windows.labels(model_version=version).inc()
        time.sleep(poll_seconds)
