"""The seeded traffic plan and the locustfile's environment contract (pure: no network, no Locust)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

from loadgen import settings, watchdog  # noqa: E402
from loadgen.exporter import ClientMetrics, feedback_outcome, prediction_outcome  # noqa: E402
from loadgen.traffic import request_stream, traffic_sequence, user_id, user_slot  # noqa: E402

from rolloutlab.errors import LoadError  # noqa: E402
from rolloutlab.load.client_metrics import parse_exposition  # noqa: E402
from rolloutlab.load.locust_runner import LoadSpec  # noqa: E402
from rolloutlab.scenario.load import validate_load  # noqa: E402


def test_same_seed_gives_the_same_users_and_rows() -> None:
    first = traffic_sequence(seed=7, slots=5, per_slot=200, population=1000, n_rows=540)
    again = traffic_sequence(seed=7, slots=5, per_slot=200, population=1000, n_rows=540)
    assert first == again
    assert len({(d.user_id, d.row) for d in first}) > 900  # and it is not a constant


def test_another_seed_gives_other_traffic() -> None:
    a = traffic_sequence(seed=7, slots=2, per_slot=100, population=1000, n_rows=540)
    b = traffic_sequence(seed=8, slots=2, per_slot=100, population=1000, n_rows=540)
    assert sum(x.user_id == y.user_id and x.row == y.row for x, y in zip(a, b)) < 5


def test_the_plan_is_the_same_in_another_interpreter() -> None:
    """A string seed is hashed with SHA-512, not hash(): PYTHONHASHSEED must not change the traffic."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from loadgen.traffic import traffic_sequence; "
            "print([(d.user_id, d.row) for d in traffic_sequence(3, 2, 20, 500, 100)])")
    outputs = {subprocess.run([sys.executable, "-c", code, str(LOADTESTS)], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([(d.user_id, d.row) for d in traffic_sequence(3, 2, 20, 500, 100)])


def test_slots_are_independent_streams_of_a_shared_population() -> None:
    slot0 = list(itertools.islice(request_stream(1, 0, 50, 10), 2000))
    slot1 = list(itertools.islice(request_stream(1, 1, 50, 10), 2000))
    assert [d.user_id for d in slot0[:50]] != [d.user_id for d in slot1[:50]]
    users = Counter(d.user_id for d in slot0)
    assert set(users) == {user_id(i) for i in range(50)}  # every member shows up, none from outside
    assert max(users.values()) < 3 * min(users.values())  # roughly uniform
    assert {d.row for d in slot0} == set(range(10))
    assert [d.seq for d in slot0[:3]] == [0, 1, 2] and {d.slot for d in slot1} == {1}


def test_workers_play_the_same_slots_as_one_process() -> None:
    single = sorted(user_slot(k) for k in range(10))
    two_workers = sorted(user_slot(k, w, 2) for w in range(2) for k in range(5))
    assert single == two_workers == list(range(10))
    with pytest.raises(ValueError, match="out of range"):
        user_slot(0, 2, 2)


def test_runs_of_different_strategies_get_identical_locust_settings() -> None:
    """The traffic depends on the load section alone, never on the strategy or the target."""
    load = validate_load({"users": 4, "seed": 9, "population": 300})
    env_a = LoadSpec.from_load(load, host="http://127.0.0.1:1000", holdout=Path("/h.json"), max_seconds=60).environment()
    env_b = LoadSpec.from_load(load, host="http://127.0.0.1:2000", holdout=Path("/h.json"), max_seconds=60).environment()
    plan_a, plan_b = settings.from_env(env_a), settings.from_env(env_b)
    assert (plan_a.seed, plan_a.population, plan_a.users, plan_a.shape) == (9, 300, 4, "steady")
    assert plan_a == plan_b


def test_load_spec_environment_round_trips_through_the_locustfile_settings() -> None:
    load = validate_load({"shape": "ramp", "users": 30, "start_users": 2, "ramp_time": "45s", "rate_per_user": 2.5,
                          "feedback_delay": "1500ms", "duration": "2m"})
    spec = LoadSpec.from_load(load, host="http://127.0.0.1:9", holdout=Path("/rows.json"), max_seconds=200,
                              workers=3, force_version="v2")
    parsed = settings.from_env(spec.environment())
    assert parsed.shape == "ramp" and parsed.shape_params == {"start_users": 2, "ramp_time": 45.0}
    assert (parsed.users, parsed.rate_per_user, parsed.feedback_delay, parsed.duration) == (30, 2.5, 1.5, 120.0)
    assert (parsed.run_time, parsed.workers, parsed.force_version, parsed.holdout) == (200.0, 3, "v2", "/rows.json")
    off = LoadSpec.from_load(validate_load({"feedback_delay": "off"}), host="http://127.0.0.1:9",
                             holdout=Path("/r"), max_seconds=5, keep_duration=False)
    assert settings.from_env(off.environment()).feedback_delay is None


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("ROLLOUTLAB_RATE_PER_USER", "fast", "ROLLOUTLAB_RATE_PER_USER='fast' is not a number"),
    ("ROLLOUTLAB_RATE_PER_USER", "0", "must be > 0"),
    ("ROLLOUTLAB_USERS", "2.5", "ROLLOUTLAB_USERS='2.5' is not an integer"),
    ("ROLLOUTLAB_SHAPE_PARAMS", "[1]", "must be a JSON object"),
    ("ROLLOUTLAB_SHAPE_PARAMS", "{ramp", "is not JSON"),
    ("ROLLOUTLAB_EXPORTER_PORT", "70000", "is not a TCP port"),
    ("ROLLOUTLAB_FEEDBACK_DELAY", "-1", "must be >= 0"),
])
def test_bad_environment_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.from_env({"ROLLOUTLAB_HOLDOUT": "/rows.json", variable: value})


def test_holdout_is_required() -> None:
    with pytest.raises(settings.SettingsError, match="ROLLOUTLAB_HOLDOUT is required"):
        settings.from_env({})


def test_locustfile_documents_every_variable() -> None:
    doc = (LOADTESTS / "locustfile.py").read_text()
    assert [name for name in settings.VARIABLES if name not in doc] == []


def test_load_goes_only_to_this_machine() -> None:
    for host in ("http://10.0.0.1:80", "http://example.com", "ftp://127.0.0.1:21", "127.0.0.1:80"):
        with pytest.raises(LoadError, match="load goes only to this machine"):
            LoadSpec(host=host, holdout=Path("/r"), max_seconds=5)
    LoadSpec(host="http://localhost:8080", holdout=Path("/r"), max_seconds=5)


def test_watchdog_stops_at_the_bound_or_when_the_parent_is_gone() -> None:
    assert watchdog.stop_reason(5, 10, 100, 100) is None
    assert "run-time bound of 10s" in watchdog.stop_reason(10, 10, 100, 100)
    assert "parent process 100 is gone" in watchdog.stop_reason(1, None, 100, 1)
    assert watchdog.stop_reason(1e9, None, None, 1) is None


def test_outcomes_tell_connection_errors_http_errors_and_missing_versions_apart() -> None:
    assert [prediction_outcome(s, v) for s, v in [(200, True), (200, False), (0, False), (404, False), (503, False)]] \
        == ["ok", "no_version", "connection_error", "http_4xx", "http_5xx"]
    assert [feedback_outcome(s) for s in (200, 404, 422, 503, 0)] == \
        ["accepted", "unknown_request", "rejected", "error", "error"]


def test_exporter_text_parses_back_into_the_same_counts() -> None:
    from prometheus_client import generate_latest

    metrics = ClientMetrics()
    for seconds in (0.002, 0.004, 0.2):
        metrics.observe_prediction("v2", "ok", seconds)
    metrics.observe_prediction("none", "connection_error", 0.0)
    metrics.observe_feedback("v2", "accepted")
    snap = parse_exposition(generate_latest(metrics.registry).decode())
    assert snap.requests == {("v2", "ok"): 3.0, ("none", "connection_error"): 1.0}
    assert snap.buckets["v2"][float("inf")] == 3.0 and "none" not in snap.buckets
    assert snap.feedback == {("v2", "accepted"): 1.0}


def test_swarm_guard_stops_a_test_at_its_bound_or_when_the_heartbeat_stops() -> None:
    now = [100.0]
    guard = watchdog.SwarmGuard(clock=lambda: now[0])
    assert guard.reason() is None  # no test running: nothing to stop
    guard.arm(swarm_time=60, heartbeat_timeout=10)
    now[0] += 9
    assert guard.reason() is None
    guard.beat()
    now[0] += 9
    assert guard.reason() is None  # a heartbeat 9 s ago
    now[0] += 1.5
    assert "no heartbeat for 10s (timeout 10s)" in guard.reason()
    guard.arm(swarm_time=5, heartbeat_timeout=None)
    now[0] += 5
    assert "bound of 5s" in guard.reason()
    guard.disarm()
    assert guard.reason() is None


def test_a_swarms_options_override_the_deployed_settings_and_empty_ones_keep_them() -> None:
    env = {"ROLLOUTLAB_HOLDOUT": "/data/h.json", "ROLLOUTLAB_SEED": "1", "ROLLOUTLAB_USERS": "10"}
    merged = settings.with_swarm_options(env, {"rolloutlab_seed": "7", "rolloutlab_shape": "", "num_users": 3,
                                               "rolloutlab_rate_per_user": "2.5", "host": "x"}, users=3)
    run = settings.from_env(merged)
    assert (run.seed, run.users, run.rate_per_user, run.shape) == (7, 3, 2.5, "steady")
    with pytest.raises(settings.SettingsError, match="ROLLOUTLAB_HEARTBEAT_TIMEOUT"):
        settings.from_env({**merged, "ROLLOUTLAB_HEARTBEAT_TIMEOUT": "0"})
