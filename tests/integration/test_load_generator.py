"""The real Locust user and runner against a recording model API on 127.0.0.1.

The recording server speaks the model API contract (POST /predict, POST /feedback) and notes when each
request arrives, which no real component exposes: it is how these tests see the feedback delay, the
exact users and rows sent, and a target that dies mid-run.
"""

from __future__ import annotations

import itertools
import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from rolloutlab import zoo
from rolloutlab.errors import LoadError
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.load.session import run_load
from rolloutlab.targets.processes import free_port
from tests.integration.conftest import CLI, PROJECT

LOADTESTS = PROJECT / "loadtests"
sys.path.insert(0, str(LOADTESTS))

from loadgen.traffic import request_stream  # noqa: E402


@dataclass
class Recorder:
    """What the recording server saw, in arrival order (time.monotonic of this process)."""

    predictions: dict[str, dict] = field(default_factory=dict)  # request_id → {t, version, user, features}
    feedback: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=itertools.count)
    dead: bool = False  # drop every connection without an answer, as a crashed server would


def make_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if recorder.dead:
                self.close_connection = True
                return
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            now = time.monotonic()
            with recorder.lock:
                if self.path == "/predict":
                    number = next(recorder.ids)
                    request_id, version = f"req-{number}", ("va" if number % 2 else "vb")  # a 50/50 "router"
                    recorder.predictions[request_id] = {"t": now, "version": version, "features": body["instances"][0],
                                                        "user": self.headers.get("x-user-id")}
                    answer = {"predictions": [0], "version": version, "request_id": request_id}
                    self._answer(200, answer, {"x-model-version": version, "x-request-id": request_id})
                    return
                known = body.get("request_id") in recorder.predictions and not body["request_id"].endswith("7")
                recorder.feedback.append({"t": now, "pinned": self.headers.get("x-model-version"), "known": known,
                                          **body})
                self._answer(200 if known else 404, {} if known else {"error": "unknown request id"})

    return Handler


@pytest.fixture
def model_api() -> Iterator[tuple[str, Recorder, ThreadingHTTPServer]]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), make_handler(recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", recorder, server
    server.shutdown()
    server.server_close()


def rows() -> list[dict]:
    return json.loads(zoo.holdout_path().read_text())


def test_feedback_goes_to_the_answering_version_after_the_delay(home: Path, model_api: tuple) -> None:
    host, recorder, _ = model_api
    spec = LoadSpec(host=host, holdout=zoo.holdout_path(), max_seconds=60, users=4, rate_per_user=5,
                    feedback_delay=1.5, duration=6)
    runner = LocustRunner(spec, home / "runs" / "feedback-delay")
    runner.start(probe=False)
    assert runner.wait(30), "the shape should end the run by itself"
    runner.stop()

    by_features = {json.dumps(r["features"]): r["label"] for r in rows()}
    assert len(recorder.feedback) >= 30
    delays = []
    for sent in recorder.feedback:
        prediction = recorder.predictions[sent["request_id"]]
        assert sent["pinned"] == prediction["version"]  # reaches the version that answered
        assert sent["label"] == by_features[json.dumps(prediction["features"])]  # the true label of that row
        delays.append(sent["t"] - prediction["t"])
    assert min(delays) >= 1.5
    assert statistics.median(delays) < 2.5  # honoured, not merely "some time later"
    # Predictions answered in the last 1.5 s had no time for their label: none of those was sent.
    assert len(recorder.feedback) < len(recorder.predictions)

    final = runner.final_metrics()
    assert final is not None
    rejected = sum(1 for f in recorder.feedback if not f["known"])
    assert rejected > 0  # the server refused some ids (404): counted, and the run went on
    assert final.feedback.get(("va", "unknown_request"), 0) + final.feedback.get(("vb", "unknown_request"), 0) == rejected
    accepted = sum(v for (_, outcome), v in final.feedback.items() if outcome == "accepted")
    assert accepted == len(recorder.feedback) - rejected
    assert sum(final.requests.values()) == len(recorder.predictions)


def test_the_locust_user_sends_exactly_the_seeded_plan_with_two_workers(home: Path, model_api: tuple) -> None:
    host, recorder, _ = model_api
    log = home / "runs" / "plan" / "traffic.jsonl"
    spec = LoadSpec(host=host, holdout=zoo.holdout_path(), max_seconds=60, users=4, rate_per_user=4, seed=11,
                    population=50, feedback_delay=None, duration=4, workers=2, traffic_log=log)
    runner = LocustRunner(spec, log.parent)
    runner.start(probe=False)
    assert runner.wait(30)
    runner.stop()

    sent = [json.loads(line) for line in log.read_text().splitlines()]
    predictions = [s for s in sent if s["kind"] == "predict"]
    assert {s["slot"] for s in predictions} == {0, 1, 2, 3}  # two workers, two users each: the four slots
    assert len({s["pid"] for s in predictions}) == 2
    n_rows = len(rows())
    for slot in range(4):
        mine = sorted((s for s in predictions if s["slot"] == slot), key=lambda s: s["seq"])
        plan = list(itertools.islice(request_stream(11, slot, 50, n_rows), len(mine)))
        assert [(s["seq"], s["user"], s["row"]) for s in mine] == [(d.seq, d.user_id, d.row) for d in plan]
    # And that is what reached the server: the same users with the same rows.
    table = rows()
    seen = sorted((p["user"], json.dumps(p["features"])) for p in recorder.predictions.values())
    logged = sorted((s["user"], json.dumps(table[s["row"]]["features"])) for s in predictions)
    assert seen == logged


def test_a_target_that_is_down_fails_fast_with_a_clear_message(home: Path) -> None:
    port = free_port()
    spec = LoadSpec(host=f"http://127.0.0.1:{port}", holdout=zoo.holdout_path(), max_seconds=60)
    started = time.monotonic()
    with pytest.raises(LoadError, match=rf"nothing answers at http://127.0.0.1:{port}.*is the lab up"):
        LocustRunner(spec, home / "runs" / "down").start()
    assert time.monotonic() - started < 5
    result = subprocess.run([*CLI, "load", "--host", f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                            cwd=PROJECT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: nothing answers at") and len(result.stderr.strip().splitlines()) == 1


def test_a_target_that_dies_mid_run_stops_the_load_quickly(home: Path, model_api: tuple) -> None:
    host, recorder, server = model_api
    spec = LoadSpec(host=host, holdout=zoo.holdout_path(), max_seconds=120, users=3, rate_per_user=5,
                    feedback_delay=None, duration=90)

    def die() -> None:
        recorder.dead = True
        server.shutdown()
        server.server_close()

    killer = threading.Timer(2.0, die)
    started = time.monotonic()
    with pytest.raises(LoadError, match="stopped answering: all .* requests of the last 5s got no response"):
        run_load(spec, home / "runs" / "dies", interval=1.0, seconds=90, on_start=lambda _: killer.start())
    assert time.monotonic() - started < 30
    assert len(recorder.predictions) > 5  # it did run before the target went away
    summary = json.loads((home / "runs" / "dies" / "summary.json").read_text())
    assert summary["ended_by"].startswith("error: the target") and summary["predictions"]["outcomes"]["ok"] > 0


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those still running after timeout; an exited orphan may linger as a zombie until init reaps it."""
    deadline = time.monotonic() + timeout
    while True:
        running = []
        for process in processes:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    running.append(process)
            except psutil.NoSuchProcess:
                pass
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


def locust_children(pid_line: str) -> list[psutil.Process]:
    pids = [int(p) for p in pid_line.removeprefix("locust pids ").split(", ")]
    return [psutil.Process(pid) for pid in pids]


def start_cli_load(host: str, *extra: str) -> tuple[subprocess.Popen, list[psutil.Process]]:
    process = subprocess.Popen([*CLI, "load", "--host", host, "--duration", "60s", *extra], cwd=PROJECT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("locust pids"):
            return process, locust_children(line.strip())
    raise AssertionError(f"the load never started (exit {process.wait()})")


def test_the_load_never_outlives_a_cli_that_was_killed(home: Path, model_api: tuple) -> None:
    host, _, _ = model_api
    cli, children = start_cli_load(host, "--workers", "1")
    cli.send_signal(signal.SIGKILL)  # no chance to clean up: the processes must notice by themselves
    cli.wait(10)
    alive = wait_gone(children, timeout=20)
    assert alive == [], f"still running after their parent died: {[p.pid for p in alive]}"


def test_ctrl_c_stops_the_load_and_exits_130(home: Path, model_api: tuple) -> None:
    host, _, _ = model_api
    cli, children = start_cli_load(host)
    time.sleep(1.5)
    cli.send_signal(signal.SIGINT)
    output, _ = cli.communicate(timeout=30)
    assert cli.returncode == 130, output
    assert "interrupted: the load generator was stopped" in output
    assert wait_gone(children, timeout=5) == []


def test_the_hard_bound_ends_a_load_nobody_stops(home: Path, model_api: tuple) -> None:
    host, _, _ = model_api
    spec = LoadSpec(host=host, holdout=zoo.holdout_path(), max_seconds=3, users=2, feedback_delay=None)  # no duration
    runner = LocustRunner(spec, home / "runs" / "bound")
    runner.start(probe=False)
    started = time.monotonic()
    try:
        assert runner.wait(20), "locust outlived its hard bound"
        assert time.monotonic() - started < 10
        assert runner.stats() is not None and runner.stats().requests > 0  # it quit cleanly, writing its CSV
    finally:
        runner.stop()
