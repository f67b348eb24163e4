"""The prediction user: seeded end users post held-out rows, then the true label after a delay.

Configured only by environment variables, so a container (the Kubernetes master/worker Deployments)
runs this file unchanged:

  ROLLOUTLAB_HOLDOUT         JSON file of held-out rows [{"features": [64 floats], "label": int}] (required)
  ROLLOUTLAB_RATE_PER_USER   requests per second each Locust user aims for (default 5)
  ROLLOUTLAB_SEED            seed of the traffic plan: same seed, same users and rows (default 42)
  ROLLOUTLAB_POPULATION      distinct end-user ids, sent as x-user-id for sticky routing, with their
                             bucket x-rolloutlab-bucket for sticky routes on Gateway API (default 1000)
  ROLLOUTLAB_FEEDBACK_DELAY  seconds until the true label goes to /feedback; "off" disables (default 2)
  ROLLOUTLAB_USERS           steady / peak number of Locust users (default 10)
  ROLLOUTLAB_SHAPE           steady | ramp | step | spike | soak | wave (default steady)
  ROLLOUTLAB_SHAPE_PARAMS    JSON object of the shape's other parameters, times in seconds,
                             e.g. {"start_users": 1, "ramp_time": 60} (default {})
  ROLLOUTLAB_DURATION        seconds after which the shape ends the test (default: until stopped)
  ROLLOUTLAB_RUN_TIME        hard bound: quit after this many seconds, killed 15 s later (default: none)
  ROLLOUTLAB_PARENT_PID      quit when this process stops being our parent (default: none)
  ROLLOUTLAB_EXPORTER_PORT   serve client metrics for Prometheus at :PORT/metrics (default: none)
  ROLLOUTLAB_EXPORTER_HOST   the exporter's address; 0.0.0.0 in a pod (default 127.0.0.1)
  ROLLOUTLAB_WORKERS         number of Locust workers, so slots match a single process (default 1)
  ROLLOUTLAB_FORCE_VERSION   send x-model-version on every prediction (stress one version)
  ROLLOUTLAB_TRAFFIC_LOG     append one JSON line per prediction and per feedback here (audits)
  ROLLOUTLAB_METRICS_FILE    on exit, write the final client metrics (Prometheus text format) here
  ROLLOUTLAB_DRIFT           JSON drift plan (loadgen/drift.py): which requests are drifted, when, how
  ROLLOUTLAB_SWARM_TIME      hard bound of one test started through the web API, from its start
  ROLLOUTLAB_HEARTBEAT_TIMEOUT  end such a test when no POST /rolloutlab/heartbeat came for this long

A master with its web UI (the in-cluster load generator) serves many runs: each POST /swarm may set
the test's own users (user_count) and, as form fields named after the variable in lower case
(rolloutlab_seed, rolloutlab_shape, ...; loadgen/settings.SWARM_VARIABLES), its rate per user, seed,
population, feedback delay, shape, bound and heartbeat timeout; the master passes them to its workers.

Each Locust user is a slot of the seeded plan (loadgen/traffic.py): every request draws an end user
from the population and a held-out row. The answer names the version that served it; the label is
posted to /feedback `ROLLOUTLAB_FEEDBACK_DELAY` seconds later through the router, with
x-model-version set so it reaches that same version (late rewards, as in production).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from typing import Any

import gevent
from locust import FastHttpUser, constant_throughput, events, task
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from loadgen import settings as settings_module, watchdog  # noqa: E402
from loadgen.exporter import (  # noqa: E402
    NO_RESPONSE, UNKNOWN_VERSION, ClientMetrics, feedback_outcome, prediction_outcome,
)
from loadgen.traffic import BUCKET_HEADER, bucket_of, request_stream, user_slot  # noqa: E402
from shapes import locust_shape  # noqa: E402

try:
    SETTINGS = settings_module.from_env(os.environ)
    with open(SETTINGS.holdout, encoding="utf-8") as _handle:
        ROWS: list[dict[str, Any]] = json.load(_handle)
    if not ROWS:
        raise settings_module.SettingsError(f"ROLLOUTLAB_HOLDOUT={SETTINGS.holdout} holds no rows")

    def _plan() -> tuple[str, dict[str, Any]]:
        run = _run_settings()
        return run.shape, {**run.shape_params, "users": run.users, "duration": run.duration}

    def _run_settings() -> settings_module.Settings:
        """This test's settings: the deployed environment with the options of its /swarm laid over it."""
        if _ENVIRONMENT is None or _ENVIRONMENT.parsed_options is None:
            return SETTINGS
        options = vars(_ENVIRONMENT.parsed_options)
        # A headless run takes its users from the environment (its -u is Locust's default, 1); a test
        # started through the web API takes them from its /swarm's user_count.
        users = None if options.get("headless") else options.get("num_users")
        return settings_module.from_env(settings_module.with_swarm_options(os.environ, options, users))

    _ENVIRONMENT: Any = None  # set at Locust's init event
    # Locust runs the one LoadTestShape subclass it finds in this module.
    LabShape = locust_shape(_plan)
except (OSError, ValueError, TypeError) as _exc:
    # Locust would print a traceback; one line names what to fix.
    sys.stderr.write(f"rolloutlab locustfile: {_exc}\n")
    sys.exit(2)

METRICS = ClientMetrics()
RUN = SETTINGS  # the current test's settings (SETTINGS with its /swarm options), renewed at each test start
GUARD = watchdog.SwarmGuard()
# The drift schedule's clock: from the test's start (reset in _on_test_start), per process.
_load_started = time.monotonic()
_local_users = itertools.count()
# Labels waiting for their delay, process-wide: a user who leaves (a shape scaling down) still gets
# their labels delivered, as the real world would; only the end of the test cancels them.
_pending: set[gevent.Greenlet] = set()
_traffic_log = open(SETTINGS.traffic_log, "a", encoding="utf-8") if SETTINGS.traffic_log else None


def _audit(**record: Any) -> None:
    if _traffic_log is not None:
        _traffic_log.write(json.dumps({"t": time.time(), "pid": os.getpid(), **record}) + "\n")
        _traffic_log.flush()


@events.init_command_line_parser.add_listener
def _swarm_options(parser: Any, **_: Any) -> None:
    # Declared as Locust options so /swarm accepts them as form fields and the master ships them to
    # its workers with every spawn message; empty means "as deployed" (the environment variable).
    for variable in settings_module.SWARM_VARIABLES:
        parser.add_argument("--" + settings_module.option_name(variable).replace("_", "-"), default="",
                            help=settings_module.VARIABLES[variable][0], include_in_web_ui=False)


@events.init.add_listener
def _on_init(environment: Any, web_ui: Any = None, **_: Any) -> None:
    global _ENVIRONMENT
    _ENVIRONMENT = environment
    runner = environment.runner
    if web_ui is not None and not isinstance(runner, WorkerRunner):
        _serve_heartbeat(web_ui)
        watchdog.guard_swarms(GUARD, runner.stop)
    if isinstance(runner, WorkerRunner):
        watchdog.install(runner.quit, SETTINGS.run_time, SETTINGS.parent_pid, handle_sigterm=False)
    else:
        # Ending the shape lets Locust stop the users and write its stats once, on its own path;
        # runner.quit() from here would race with the quit Locust makes when the shape ends.
        watchdog.install(environment.shape_class.request_stop, SETTINGS.run_time, SETTINGS.parent_pid,
                         handle_sigterm=True)
    if SETTINGS.exporter_port is None:
        return
    runs_users = not isinstance(runner, MasterRunner)
    runs_shape = not isinstance(runner, WorkerRunner)
    METRICS.bind(
        users=(lambda: runner.user_count) if runs_users else None,
        target_users=(lambda: (runner.shape_last_tick or (0,))[0]) if runs_shape else None,
        cpu=lambda: runner.current_cpu_usage,
    )
    METRICS.serve(SETTINGS.exporter_host, SETTINGS.exporter_port)


def _serve_heartbeat(web_ui: Any) -> None:
    from flask import jsonify

    @web_ui.app.route("/rolloutlab/heartbeat", methods=["POST", "GET"])
    def heartbeat() -> Any:
        """POST: the CLI still watches the running test; GET: the guard's state. Both answer its state."""
        from flask import request

        if request.method == "POST":
            GUARD.beat()
        return jsonify(GUARD.status())


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    global RUN, _local_users, _load_started
    _load_started = time.monotonic()
    try:
        RUN = _run_settings()
    except settings_module.SettingsError as exc:
        # The shape has refused this plan already and ends the test; the users keep the deployed one.
        sys.stderr.write(f"rolloutlab locustfile: {exc}\n")
        RUN = SETTINGS
    _local_users = itertools.count()  # every test plays the seeded slots from slot 0
    if not isinstance(environment.runner, WorkerRunner):
        GUARD.arm(RUN.swarm_time, RUN.heartbeat_timeout)


@events.test_stop.add_listener
def _on_test_stop(**_: Any) -> None:
    GUARD.disarm()
    # The run is over: labels still waiting are dropped, and counted so nobody mistakes them for lost.
    waiting = list(_pending)
    _pending.clear()
    for greenlet in waiting:
        greenlet.kill(block=False)
        METRICS.feedback_pending.dec()
        METRICS.observe_feedback(greenlet.args[0] if greenlet.args else UNKNOWN_VERSION, "cancelled")


@events.quit.add_listener
def _on_quit(**_: Any) -> None:
    # Fired after the users have stopped, so the file holds the run's final counts.
    if SETTINGS.metrics_file:
        METRICS.write(SETTINGS.metrics_file)


def _count_reward(version: str, user_id: str, response: Any) -> None:
    """The server's verdict on this label (reward, rows), added to the user's sums for A/B analysis."""
    try:
        body = response.json()
        reward, rows = float(body.get("reward") or 0.0), float(body.get("rows") or 1)
    except (ValueError, TypeError, AttributeError):
        return
    METRICS.moments.reward(version, user_id, reward, rows)


class PredictionUser(FastHttpUser):
    def wait_time(self) -> float:
        return self._pace(self)

    def on_start(self) -> None:
        self.run = RUN  # the plan of the test this user was started for
        self._pace = constant_throughput(self.run.rate_per_user)
        worker_index = max(0, getattr(self.environment.runner, "worker_index", 0))
        self.slot = user_slot(next(_local_users), worker_index % SETTINGS.workers, SETTINGS.workers)
        self.plan = request_stream(self.run.seed, self.slot, self.run.population, len(ROWS))

    @task
    def predict(self) -> None:
        draw = next(self.plan)
        row = ROWS[draw.row]
        drifted, row_index = False, draw.row
        if self.run.drift is not None:
            applied = self.run.drift.apply(ROWS, draw.row, draw.slot, draw.seq, time.monotonic() - _load_started)
            row, drifted, row_index = {"features": applied.features, "label": applied.label}, applied.drifted, applied.row
        # The bucket lets a Gateway API route keep each user on one arm (sticky A/B) with core matches.
        headers = {"x-user-id": draw.user_id, BUCKET_HEADER: bucket_of(draw.user_id)}
        if self.run.force_version:
            headers["x-model-version"] = self.run.force_version
        started = time.perf_counter()
        with self.client.post("/predict", json={"instances": [row["features"]]}, headers=headers,
                              name="/predict", catch_response=True) as response:
            seconds = time.perf_counter() - started
            version, request_id = self._read_answer(response)
            outcome = prediction_outcome(response.status_code or 0, version is not None)
            served = version or (NO_RESPONSE if outcome == "connection_error" else UNKNOWN_VERSION)
            METRICS.observe_prediction(served, outcome, seconds)
            if outcome == "ok":
                METRICS.moments.exposure(served, draw.user_id)
                response.success()
            elif outcome == "no_version":
                response.failure("the response names no model version")
            else:
                response.failure(f"HTTP {response.status_code}" if response.status_code else
                                 f"no response: {response.error!r}")
        _audit(kind="predict", slot=draw.slot, seq=draw.seq, user=draw.user_id, row=row_index,
               status=response.status_code or 0, version=served, request_id=request_id, drifted=drifted)
        if outcome == "ok" and self.run.feedback_delay is not None:
            if request_id is None:
                METRICS.observe_feedback(served, "no_request_id")
            else:
                self._schedule_feedback(served, request_id, int(row["label"]), draw.user_id,
                                        self._predictions(response))

    @staticmethod
    def _read_answer(response: Any) -> tuple[str | None, str | None]:
        """(served version, request id) from the headers, else the JSON body; None where missing."""
        headers = response.headers or {}
        version, request_id = headers.get("x-model-version"), headers.get("x-request-id")
        if (version is None or request_id is None) and response.status_code and 200 <= response.status_code < 300:
            try:
                body = response.json()
            except (ValueError, TypeError):
                body = {}
            if isinstance(body, dict):
                version = version or (str(body["version"]) if body.get("version") is not None else None)
                request_id = request_id or (str(body["request_id"]) if body.get("request_id") is not None else None)
        return version, request_id

    @staticmethod
    def _predictions(response: Any) -> list[int] | None:
        """The answer's predictions, sent back with the label: any replica of the version can then count it."""
        try:
            predictions = response.json().get("predictions")
        except (ValueError, TypeError, AttributeError):
            return None
        return predictions if isinstance(predictions, list) and len(predictions) == 1 else None

    def _schedule_feedback(self, version: str, request_id: str, label: int, user_id: str,
                           predictions: list[int] | None) -> None:
        greenlet = gevent.spawn_later(self.run.feedback_delay, self._send_feedback, version, request_id, label,
                                      user_id, predictions)
        _pending.add(greenlet)
        METRICS.feedback_pending.inc()

    def _send_feedback(self, version: str, request_id: str, label: int, user_id: str,
                       predictions: list[int] | None) -> None:
        message: dict[str, Any] = {"request_id": request_id, "label": label}
        if predictions is not None:
            message["predictions"] = predictions
        try:
            # Through the router, pinned to the version that answered. With several replicas of it, any
            # may get this; the answer's predictions let one that never saw the request count the label.
            with self.client.post("/feedback", json=message,
                                  headers={"x-model-version": version, "x-user-id": user_id},
                                  name="/feedback", catch_response=True) as response:
                outcome = feedback_outcome(response.status_code or 0)
                if outcome == "accepted":
                    response.success()
                    _count_reward(version, user_id, response)
                else:
                    response.failure(f"feedback {outcome} (HTTP {response.status_code})")
            METRICS.observe_feedback(version, outcome)
            _audit(kind="feedback", request_id=request_id, version=version, status=response.status_code or 0)
        finally:
            if gevent.getcurrent() in _pending:  # else the end of the test has already accounted for it
                _pending.discard(gevent.getcurrent())
                METRICS.feedback_pending.dec()
