"""The locustfile's configuration, read from environment variables only (so a container runs it unchanged)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadgen.drift import DriftPlan

# name → (meaning, default); locustfile.py documents the same list at its top.
VARIABLES: dict[str, tuple[str, str | None]] = {
    "ROLLOUTLAB_HOLDOUT": ("JSON file of held-out rows [{features: [64 floats], label: int}]", None),
    "ROLLOUTLAB_RATE_PER_USER": ("requests per second each Locust user aims for", "5"),
    "ROLLOUTLAB_SEED": ("seed of the traffic plan: same seed, same users and rows", "42"),
    "ROLLOUTLAB_POPULATION": ("distinct end-user ids sent in x-user-id", "1000"),
    "ROLLOUTLAB_FEEDBACK_DELAY": ("seconds before the true label is posted to /feedback; 'off' disables", "2"),
    "ROLLOUTLAB_USERS": ("steady / peak number of Locust users", "10"),
    "ROLLOUTLAB_SHAPE": ("load shape: steady, ramp, step, spike, soak, wave", "steady"),
    "ROLLOUTLAB_SHAPE_PARAMS": ("JSON object of the shape's other parameters (times in seconds)", "{}"),
    "ROLLOUTLAB_DURATION": ("seconds after which the shape ends the test; empty: run until stopped", ""),
    "ROLLOUTLAB_RUN_TIME": ("hard bound in seconds: quit then, be killed 15 s later; empty: none", ""),
    "ROLLOUTLAB_PARENT_PID": ("quit as soon as this process is no longer our parent; empty: none", ""),
    "ROLLOUTLAB_EXPORTER_PORT": ("serve client metrics for Prometheus on this port; empty: none", ""),
    "ROLLOUTLAB_EXPORTER_HOST": ("address of the metrics exporter (0.0.0.0 in a pod)", "127.0.0.1"),
    "ROLLOUTLAB_WORKERS": ("number of Locust workers (keeps user slots identical in distributed mode)", "1"),
    "ROLLOUTLAB_FORCE_VERSION": ("send x-model-version: VALUE on every prediction (stress one version)", ""),
    "ROLLOUTLAB_TRAFFIC_LOG": ("append one JSON line per prediction and feedback here (audits, tests)", ""),
    "ROLLOUTLAB_METRICS_FILE": ("write the final client metrics (Prometheus text) here on exit", ""),
    "ROLLOUTLAB_DRIFT": ("JSON drift plan (loadgen/drift.py: kind, onset, ramp, share, seed, ...); empty: none", ""),
    "ROLLOUTLAB_SWARM_TIME": ("hard bound of one test started through the web API, from its start; empty: none",
                              ""),
    "ROLLOUTLAB_HEARTBEAT_TIMEOUT": ("end a test started through the web API when no POST /rolloutlab/heartbeat "
                                     "came for this many seconds; empty: no heartbeat needed", ""),
}

# What one test (a /swarm of the web API) may set for itself, as form fields named after the variable in
# lower case (ROLLOUTLAB_SEED -> rolloutlab_seed); users come from /swarm's own user_count. The rest
# (ports, files, workers, bounds of the process) belongs to the process and stays as deployed.
SWARM_VARIABLES = (
    "ROLLOUTLAB_RATE_PER_USER", "ROLLOUTLAB_SEED", "ROLLOUTLAB_POPULATION", "ROLLOUTLAB_FEEDBACK_DELAY",
    "ROLLOUTLAB_SHAPE", "ROLLOUTLAB_SHAPE_PARAMS", "ROLLOUTLAB_DURATION", "ROLLOUTLAB_FORCE_VERSION",
    "ROLLOUTLAB_SWARM_TIME", "ROLLOUTLAB_HEARTBEAT_TIMEOUT", "ROLLOUTLAB_DRIFT",
)


def option_name(variable: str) -> str:
    """The /swarm form field (and Locust option dest) of a variable: ROLLOUTLAB_SEED -> rolloutlab_seed."""
    return variable.lower()


def with_swarm_options(env: Mapping[str, str], options: Mapping[str, Any], users: int | None) -> dict[str, str]:
    """env with one test's options laid over it: a non-empty option wins over the deployed variable."""
    merged = dict(env)
    for variable in SWARM_VARIABLES:
        value = options.get(option_name(variable))
        if value not in (None, ""):
            merged[variable] = str(value)
    if users is not None:
        merged["ROLLOUTLAB_USERS"] = str(users)
    return merged


class SettingsError(ValueError):
    """An environment variable has a value the load generator cannot use."""


@dataclass(frozen=True)
class Settings:
    holdout: str
    rate_per_user: float = 5.0
    seed: int = 42
    population: int = 1000
    feedback_delay: float | None = 2.0
    users: int = 10
    shape: str = "steady"
    shape_params: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None
    run_time: float | None = None
    parent_pid: int | None = None
    exporter_port: int | None = None
    exporter_host: str = "127.0.0.1"
    workers: int = 1
    force_version: str | None = None
    traffic_log: str | None = None
    metrics_file: str | None = None
    drift: DriftPlan | None = None
    swarm_time: float | None = None
    heartbeat_timeout: float | None = None


def _get(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    default = VARIABLES[name][1]
    if not value:
        if default is None:
            raise SettingsError(f"{name} is required: {VARIABLES[name][0]}")
        return default
    return value


def _number(env: Mapping[str, str], name: str, kind: type, minimum: float, strict: bool = False) -> Any:
    raw = _get(env, name)
    if raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a{'n integer' if kind is int else ' number'}") from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise SettingsError(f"{name}={raw!r} must be {'>' if strict else '>='} {minimum:g}")
    return value


def from_env(env: Mapping[str, str]) -> Settings:
    """Settings from environment variables; a bad value raises SettingsError naming the variable."""
    delay_raw = _get(env, "ROLLOUTLAB_FEEDBACK_DELAY")
    delay = None if delay_raw.lower() in ("off", "none", "false", "no") else _number(
        env, "ROLLOUTLAB_FEEDBACK_DELAY", float, 0)
    try:
        params = json.loads(_get(env, "ROLLOUTLAB_SHAPE_PARAMS"))
    except ValueError as exc:
        raise SettingsError(f"ROLLOUTLAB_SHAPE_PARAMS is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise SettingsError("ROLLOUTLAB_SHAPE_PARAMS must be a JSON object, e.g. {\"ramp_time\": 60}")
    drift_raw = _get(env, "ROLLOUTLAB_DRIFT")
    try:
        drift = DriftPlan.from_json(drift_raw) if drift_raw else None
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"ROLLOUTLAB_DRIFT is not a drift plan: {exc}") from None
    port = _number(env, "ROLLOUTLAB_EXPORTER_PORT", int, 1)
    if port is not None and port > 65535:
        raise SettingsError(f"ROLLOUTLAB_EXPORTER_PORT={port} is not a TCP port")
    return Settings(
        holdout=_get(env, "ROLLOUTLAB_HOLDOUT"),
        rate_per_user=_number(env, "ROLLOUTLAB_RATE_PER_USER", float, 0, strict=True),
        seed=_number(env, "ROLLOUTLAB_SEED", int, -2**63),
        population=_number(env, "ROLLOUTLAB_POPULATION", int, 1),
        feedback_delay=delay,
        users=_number(env, "ROLLOUTLAB_USERS", int, 1),
        shape=_get(env, "ROLLOUTLAB_SHAPE"),
        shape_params=params,
        duration=_number(env, "ROLLOUTLAB_DURATION", float, 0, strict=True),
        run_time=_number(env, "ROLLOUTLAB_RUN_TIME", float, 0, strict=True),
        parent_pid=_number(env, "ROLLOUTLAB_PARENT_PID", int, 1),
        exporter_port=port,
        exporter_host=_get(env, "ROLLOUTLAB_EXPORTER_HOST"),
        workers=_number(env, "ROLLOUTLAB_WORKERS", int, 1),
        force_version=_get(env, "ROLLOUTLAB_FORCE_VERSION") or None,
        traffic_log=_get(env, "ROLLOUTLAB_TRAFFIC_LOG") or None,
        metrics_file=_get(env, "ROLLOUTLAB_METRICS_FILE") or None,
        drift=drift,
        swarm_time=_number(env, "ROLLOUTLAB_SWARM_TIME", float, 0, strict=True),
        heartbeat_timeout=_number(env, "ROLLOUTLAB_HEARTBEAT_TIMEOUT", float, 0, strict=True),
    )
