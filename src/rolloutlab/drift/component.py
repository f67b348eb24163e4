"""The monitor as a component of a target: how to start it, and how it builds each version's window.

A target calls `monitor_command(...)` to spawn it (its own process, so the tests and attributions never
run on the request path), registers `port` for Prometheus (file_sd), and stops it by PID with the rest.
Nothing here knows which target runs it: the prediction logs and a port are all it needs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import joblib

from rolloutlab.drift.calibration import Thresholds, alpha_per_hour, calibrate, null_statistics
from rolloutlab.drift.monitor import STEP, WINDOW, VersionWindow
from rolloutlab.drift.reference import training_reference
from rolloutlab.drift.window import VersionDetectors
from rolloutlab.paths import bentoml_home
from rolloutlab.zoo.catalogue import load_catalogue

# 60 req/s with half the requests sampled into the log, one evaluation every STEP rows.
DEFAULT_EVALUATIONS_PER_HOUR = 60 * 0.5 * 3600 / STEP
FILE_SD_NAME = "drift-monitor"


def monitor_command(port: int, state_dir: Path, logs: dict[str, Path]) -> list[str]:
    return [sys.executable, "-m", "rolloutlab.drift", "--port", str(port), "--state-dir", str(state_dir),
            *[f"--log={version}={path}" for version, path in sorted(logs.items())]]


def load_model(version: str) -> tuple[Any, str]:
    """The version's trained model from the lab's BentoML store, and its content-derived version string."""
    catalogue = load_catalogue()
    tag = catalogue.version_string(version)
    path = bentoml_home() / "models" / catalogue.model / tag / "model.joblib"
    return joblib.load(path), tag


def thresholds_for(detectors: VersionDetectors, cache: Path, alpha: float) -> Thresholds:
    """Calibrated thresholds, from the cache when this content tag was calibrated at this alpha before."""
    if cache.is_file():
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("alpha") == alpha and data.get("window") == WINDOW:
            return Thresholds({k: float(v) for k, v in data["values"].items()}, alpha)
    thresholds = calibrate(null_statistics(detectors, detectors.holdout, WINDOW), alpha)
    cache.write_text(json.dumps({"alpha": alpha, "window": WINDOW, "values": thresholds.values}), encoding="utf-8")
    return thresholds


def build_windows(versions: list[str], state_dir: Path, evaluations_per_hour: float,
                  exporter: Any = None) -> dict[str, VersionWindow]:
    reference = training_reference()
    alpha = alpha_per_hour(evaluations_per_hour)
    windows = {}
    for version in versions:
        model, tag = load_model(version)
        detectors = VersionDetectors(model, reference)
        thresholds = thresholds_for(detectors, state_dir / f"calibration-{tag}.json", alpha)
        windows[version] = VersionWindow(version, detectors, thresholds)
        if exporter is not None:
            exporter.ready.labels(model_version=version).set(1)
    return windows
