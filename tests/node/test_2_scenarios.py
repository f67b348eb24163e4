"""Shipped scenarios and faults on the real node, `rolloutlab run --target existing` against the session's stack.

Written against the CLI as issue 17 defines it; skipped until two pieces exist: the Kubernetes target
reaches the router only by a port-forward to Envoy Gateway's Service (an existing gateway such as
Traefik has none; it needs to use the stack's gatewayUrl), and this layer builds no Locust image
(loadWorkers 0), so a run here would have no load. The in-cluster load itself now follows the
scenario (tests/integration/test_cluster_swarm.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rolloutlab.cli.experiments import EXIT_CODES
from rolloutlab.scenario import load_scenario
from tests.node.conftest import NAMESPACE, NodeLab
from tests.node.traffic import send

pytestmark = [pytest.mark.node, pytest.mark.skip(reason=(
    "needs the Kubernetes target to reach an existing gateway by the stack's gatewayUrl (it port-forwards Envoy "
    "Gateway's Service) and a Locust image in this layer (loadWorkers 0): no run here would have load"))]
FAST = ["--time-scale", "0.25"]
SCENARIOS = ["canary-basic", "canary-degraded", "bluegreen-basic", "ab-accuracy", "bandit-thompson-v1-v2", "gate-degraded"]


def _run(node_lab: NodeLab, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**node_lab.env, "ROLLOUTLAB_PROJECT": str(node_lab.work_dir)}
    return subprocess.run([sys.executable, "-m", "rolloutlab.cli", "run", *args, "--target", "existing", *FAST],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_reaches_its_expected_outcome_on_the_node(node_lab: NodeLab, name: str) -> None:
    scenario = load_scenario(name)
    done = _run(node_lab, name)
    assert "as this scenario expects" in done.stdout, done.stdout + done.stderr
    assert done.returncode == EXIT_CODES[scenario.expect]


def test_a_shadow_scenario_is_refused_up_front_on_traefik(node_lab: NodeLab) -> None:
    done = _run(node_lab, "shadow-slow", timeout=120)
    assert done.returncode != 0
    assert "RequestMirror" in done.stdout + done.stderr


def test_prometheus_deleted_mid_run_aborts_to_the_baseline_as_an_infrastructure_fault_or_recovers(
        node_lab: NodeLab) -> None:
    env = {**node_lab.env, "ROLLOUTLAB_PROJECT": str(node_lab.work_dir)}
    run = subprocess.Popen([sys.executable, "-m", "rolloutlab.cli", "run", "canary-basic", "--target", "existing", *FAST],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(20)
    node_lab.kubectl("-n", NAMESPACE, "delete", "pod", "-l", "app.kubernetes.io/name=prometheus", "--wait=false")
    out, _ = run.communicate(timeout=600)
    assert ("aborted" in out and "rolled back" not in out) or "as this scenario expects" in out, out
    assert set(send(node_lab.gateway_url, 20).versions) == {"v1"} or "promoted" in out


def test_the_in_cluster_load_stops_by_itself_when_the_cli_is_killed(node_lab: NodeLab) -> None:
    env = {**node_lab.env, "ROLLOUTLAB_PROJECT": str(node_lab.work_dir)}
    run = subprocess.Popen([sys.executable, "-m", "rolloutlab.cli", "run", "canary-basic", "--target", "existing", *FAST],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(30)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 60  # the heartbeat bound of issue 17's in-cluster load
    while node_lab.kubectl("-n", NAMESPACE, "get", "pods", "-l", "app=locust", "-o", "name").stdout.strip():
        assert time.monotonic() < deadline, "the in-cluster load still runs 60 s after the CLI was killed"
        time.sleep(2)
