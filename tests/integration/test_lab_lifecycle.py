"""up / status / down on real processes, and every bad input failing cleanly with nothing left behind."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from tests.integration.conftest import CLI, PROJECT, lab_processes, rolloutlab


def test_up_status_route_down(home: Path) -> None:
    # Not the lab's (no lab path in its command, directory or environment): down must leave it alone.
    bystander = subprocess.Popen(["sleep", "120"], cwd="/", env={"PATH": "/usr/bin:/bin"})
    try:
        result = rolloutlab("up", "--versions", "v1,v2")
        assert result.returncode == 0, result.stderr
        status = json.loads(rolloutlab("status", "--json").stdout)
        assert status["up"] and all(p["alive"] for p in status["processes"].values())
        assert set(status["processes"]) == {"model v1", "model v2", "prometheus", "router"}
        assert status["routing"]["weights"] == {"v1": 100, "v2": 0}

        # The router answers predictions from v1 only, and Prometheus scrapes both versions.
        import urllib.request
        router = status["endpoints"]["router_url"]
        row = json.loads((home / "data" / "holdout.json").read_text())[0]["features"]
        request = urllib.request.Request(f"{router}/predict", data=json.dumps({"instances": [row]}).encode(),
                                         headers={"content-type": "application/json"})
        answer = json.load(urllib.request.urlopen(request, timeout=10))
        assert answer["version"] == "v1" and len(answer["predictions"]) == 1
        prom = status["endpoints"]["prometheus_url"]
        def model_targets() -> list[tuple[str, str]]:
            targets = json.load(urllib.request.urlopen(f"{prom}/api/v1/targets", timeout=5))["data"]["activeTargets"]
            return sorted((t["labels"]["version"], t["health"]) for t in targets if t["labels"]["job"] == "model")

        # Until each target's first scrape its health is "unknown": wait for that, however busy the machine.
        deadline = time.monotonic() + 30
        while (len(seen := model_targets()) < 2 or any(h == "unknown" for _, h in seen)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert seen == [("v1", "up"), ("v2", "up")]

        again = rolloutlab("up")
        assert again.returncode == 1 and "already up" in again.stderr

        down = rolloutlab("down")
        assert down.returncode == 0 and "lab stopped" in down.stdout
        assert lab_processes(home) == []
        assert bystander.poll() is None
        assert "not running" in rolloutlab("down").stdout
    finally:
        rolloutlab("down")
        bystander.kill()
        bystander.wait()


def test_down_after_the_cli_that_started_the_lab_was_killed(home: Path) -> None:
    starter = subprocess.Popen([*CLI, "up"], cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = home / "lab" / "state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state.exists() and len(json.loads(state.read_text())["processes"]) == 4:
            break
        time.sleep(0.1)
    starter.send_signal(signal.SIGKILL)  # a crash: no cleanup code runs
    starter.wait()
    pids = [p["pid"] for p in json.loads(state.read_text())["processes"]]
    assert any(psutil.pid_exists(pid) for pid in pids)
    result = rolloutlab("down")
    assert result.returncode == 0, result.stderr
    assert lab_processes(home) == []


def test_busy_router_port_fails_cleanly(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = rolloutlab("up", "--router-port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use; the router (NGINX) cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_prometheus_is_named(home: Path) -> None:
    result = rolloutlab("run", "canary-basic", env={"ROLLOUTLAB_PROMETHEUS": "/nonexistent/prometheus"})
    assert result.returncode == 1
    assert "ROLLOUTLAB_PROMETHEUS=/nonexistent/prometheus is not an executable program" in result.stderr


def test_missing_nginx_is_named(home: Path) -> None:
    result = rolloutlab("up", env={"ROLLOUTLAB_NGINX": "no-such-nginx"})
    assert result.returncode == 1
    assert "ROLLOUTLAB_NGINX=no-such-nginx is not an executable program" in result.stderr


def test_model_server_that_never_becomes_ready(home: Path) -> None:
    result = rolloutlab("up", "--ready-timeout", "1")
    assert result.returncode == 1
    assert "not ready after 1s" in result.stderr and "model v1" in result.stderr
    assert "model-v1.log" in result.stderr
    assert not (home / "lab" / "state.json").exists()


def test_unknown_version_is_named(home: Path) -> None:
    result = rolloutlab("up", "--versions", "v1,v42")
    assert result.returncode == 1
    assert "unknown model version(s) v42" in result.stderr


def test_bad_scenario_file_is_located(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstrategy: canary\nversions: {baseline: v1}\nsteps: [10]\n")
    result = rolloutlab("run", str(bad))
    assert result.returncode == 2  # an invalid scenario: nothing was started
    assert f"{bad}:3: versions.candidate: required field is missing" in result.stderr
    unknown = rolloutlab("run", "no-such-scenario")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown scenario 'no-such-scenario'")


def test_down_stops_model_workers_whose_server_died_first(home: Path) -> None:
    result = rolloutlab("up")
    assert result.returncode == 0, result.stderr
    state = json.loads((home / "lab" / "state.json").read_text())
    server = next(p for p in state["processes"] if p["name"] == "model v1")
    workers = [w for w in state["workers"] if w["name"].startswith("model v1")]
    assert workers, "BentoML's workers run in sessions of their own and must be recorded"
    psutil.Process(server["pid"]).kill()  # the arbiter dies without stopping its worker
    assert all(psutil.pid_exists(w["pid"]) for w in workers)
    assert rolloutlab("down").returncode == 0
    assert lab_processes(home) == []
