"""The in-cluster load path on 127.0.0.1: a real Locust master with its web API and one worker, running
loadtests/locustfile.py as the pods do, driven by ClusterSwarm through LocustMaster exactly as a run on a
cluster drives it (through the port-forward there), against the recording model API.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from rolloutlab import zoo
from rolloutlab.load.cluster_swarm import ClusterSwarm
from rolloutlab.load.locust_master import LocustMaster
from rolloutlab.scenario.load import SteadyLoad
from rolloutlab.targets.processes import ProcessRecord, free_port, http_ok, log_tail, spawn, stop
from tests.integration.test_load_generator import LOADTESTS, Recorder, make_handler

sys.path.insert(0, str(LOADTESTS))

from loadgen.traffic import request_stream  # noqa: E402


@pytest.fixture
def model_api() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), make_handler(recorder))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def master(home: Path, tmp_path: Path, model_api: tuple[str, Recorder]) -> Iterator[tuple[LocustMaster, Recorder]]:
    """A master (web API on a free port) and one worker, deployed with the locustfile's defaults
    (10 users × 5 req/s, seed 42), as `pulumi up` deploys them without rolloutlab:loadEnv."""
    host, recorder = model_api
    web, bind = free_port(), free_port()
    env = {**os.environ, "ROLLOUTLAB_HOLDOUT": str(zoo.holdout_path()), "ROLLOUTLAB_WORKERS": "1",
           "ROLLOUTLAB_FEEDBACK_DELAY": "off", "ROLLOUTLAB_PARENT_PID": str(os.getpid()),
           "ROLLOUTLAB_RUN_TIME": "180"}  # the processes' own bound, should this test hang
    env.pop("LOCUST_SKIP_MONKEY_PATCH", None)
    base = [sys.executable, "-m", "locust", "-f", str(LOADTESTS / "locustfile.py"), "--loglevel", "INFO"]
    records: list[ProcessRecord] = [
        spawn("locust master", [*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                                str(bind), "--web-host", "127.0.0.1", "--web-port", str(web), "--host", host],
              tmp_path / "master.log", env=env),
        spawn("locust worker", [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(bind)],
              tmp_path / "worker.log", env=env),
    ]
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{web}/"):
            assert time.monotonic() < deadline, log_tail(tmp_path / "master.log")
            time.sleep(0.3)
        yield LocustMaster(f"http://127.0.0.1:{web}", workers=1), recorder
    finally:
        for record in records:
            stop(record, timeout=15)


def until(condition, seconds: float, what: str) -> float:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f}s waiting for {what}"
        time.sleep(0.25)
    return time.monotonic()


def arrivals(recorder: Recorder, since: float, until_t: float) -> list[dict]:
    with recorder.lock:
        return [p for p in recorder.predictions.values() if since <= p["t"] < until_t]


def test_the_master_runs_the_scenarios_users_rate_and_seed_and_stops_without_heartbeat(master: tuple) -> None:
    api, recorder = master
    load = SteadyLoad(users=3, rate_per_user=4, seed=7, population=50, feedback_delay=None)
    swarm = ClusterSwarm(api, load, max_seconds=120, heartbeat_timeout=4).start()
    until(lambda: api.load_stats().get("user_count") == 3, 30, "3 users (the deployed default is 10)")
    started = time.monotonic()
    while time.monotonic() - started < 5:  # the run's engine polls alive() every second
        assert swarm.alive()
        time.sleep(1)
    window_end = time.monotonic()
    rate = len(arrivals(recorder, window_end - 4, window_end)) / 4
    assert 8 <= rate <= 14, f"{rate:.1f} req/s; the scenario asks 3 users × 4 req/s = 12 (deployed: 50)"
    users = {p["user"] for p in arrivals(recorder, 0, window_end)}
    n_rows = len(json.loads(zoo.holdout_path().read_text()))
    slot0 = {d.user_id for d, _ in zip(request_stream(7, 0, 50, n_rows), range(5))}
    assert slot0 <= users, "slot 0 of seed 7 plays its seeded end users"
    assert users <= {f"user-{i:07d}" for i in range(50)}  # the scenario's population, not the deployed 1000

    # The CLI is gone: no more heartbeats. The master stops the test by itself.
    silent = time.monotonic()
    stopped = until(lambda: api.load_stats().get("state") == "stopped", 15, "the master to stop the test")
    assert 3 <= stopped - silent <= 9
    assert not swarm.alive()
    quiet = time.monotonic() + 1
    time.sleep(2)
    assert arrivals(recorder, quiet, time.monotonic()) == []


def test_the_master_ends_a_test_at_its_bound_even_with_heartbeats(master: tuple) -> None:
    api, recorder = master
    swarm = ClusterSwarm(api, SteadyLoad(users=2, rate_per_user=2, feedback_delay=None), max_seconds=4,
                         heartbeat_timeout=30).start()
    started = until(lambda: api.load_stats().get("user_count") == 2, 30, "2 users")
    while swarm.alive():
        assert time.monotonic() - started < 12, "the test outlived its 4 s bound"
        time.sleep(0.5)
    assert api.load_stats().get("state") == "stopped"
    assert api.heartbeat_load()["armed"] is False
    # The same master serves the next run with that run's own plan.
    ClusterSwarm(api, SteadyLoad(users=5, feedback_delay=None), max_seconds=30).start()
    until(lambda: api.load_stats().get("user_count") == 5, 30, "the next run's 5 users")
    api.stop_load()
