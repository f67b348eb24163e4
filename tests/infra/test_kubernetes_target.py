"""KubernetesTarget with a fake Pulumi stack and a stand-in kubectl whose port-forwards are real local HTTP servers.

The stack driver is faked (no pulumi CLI or cluster here); what is real: the port-forward processes
are spawned, probed over HTTP, recorded, and stopped by PID; the Locust control calls go over HTTP.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from rolloutlab.errors import ClusterError, LoadError, NotReady
from rolloutlab.targets.kubernetes import KubernetesTarget, PulumiStack

FAKE_KUBECTL = """#!{python}
# Stand-in for `kubectl port-forward ... LOCAL:REMOTE`: serves HTTP on 127.0.0.1:LOCAL like the forwarded Service.
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
service = next(a for a in args if a.startswith("service/"))
if service in os.environ.get("FAKE_KUBECTL_FAIL", ""):
    sys.exit("error: unable to forward " + service)
state = {{"swarms": []}}

class Handler(BaseHTTPRequestHandler):
    def _answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        workers = int(os.environ.get("FAKE_WORKERS", "2"))
        self._answer({{"path": self.path, "service": service, "workers": [{{"id": i}} for i in range(workers)],
                      "swarms": state["swarms"]}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        state["swarms"].append(self.path + "?" + body)
        self._answer({{"success": True}})

    def log_message(self, *_):
        pass

HTTPServer(("127.0.0.1", int(args[-1].split(":")[0])), Handler).serve_forever()
"""

OUTPUTS = {
    "cluster": {"kind": "kind", "name": "rolloutlab", "context": "kind-rolloutlab"},
    "endpoints": {
        "namespace": "rolloutlab",
        "versions": {"v1": "http://digits-classifier-v1.rolloutlab.svc.cluster.local:3000"},
        "router": {"namespace": "envoy-gateway-system", "service": "rolloutlab-router", "port": 80},
        "prometheus": {"namespace": "rolloutlab", "service": "prometheus", "port": 9090},
        "load": {"namespace": "rolloutlab", "service": "locust-master", "port": 8089, "workers": 2},
    },
}


class FakeStack:
    """Records what the target asks of the stack and answers with fixed outputs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.deployed: dict[str, Any] = {}

    def up(self, config: dict[str, object], progress: Any) -> dict[str, Any]:
        self.calls.append(("up", dict(config)))
        self.deployed = json.loads(json.dumps(OUTPUTS))
        return self.deployed

    def destroy(self, progress: Any) -> None:
        self.calls.append(("destroy", None))
        self.deployed = {}

    def outputs(self) -> dict[str, Any]:
        return self.deployed


@pytest.fixture()
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(FAKE_KUBECTL.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(tmp_path / "kubectl.log"))
    return script


@pytest.fixture()
def target(tmp_path: Path, kubectl: Path):
    target = KubernetesTarget(tmp_path / "home", "kind", driver=FakeStack(), kubectl=str(kubectl))
    yield target
    target.down(destroy=False)  # never leave a forward running, whatever the test did


def _forward_calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "kubectl.log").read_text().splitlines()]


def test_up_deploys_the_versions_and_forwards_router_prometheus_and_load(target: KubernetesTarget, tmp_path: Path) -> None:
    endpoints = target.up(["v1", "v2"], ready_timeout=20)
    assert target.driver.calls == [("up", {"versions": ["v1", "v2"]})]
    answer = requests.get(f"{endpoints.router_url}/readyz", timeout=5).json()
    assert answer["service"] == "service/rolloutlab-router"
    assert requests.get(f"{endpoints.prometheus_url}/-/ready", timeout=5).json()["service"] == "service/prometheus"
    assert endpoints.router_url.startswith("http://127.0.0.1:")
    # A version's URL is only ever a forward of its own Service (opened for gates and probes), never the
    # in-cluster address of the stack's outputs, which nothing on this machine can reach.
    assert endpoints.versions == {}
    calls = {call[call.index("port-forward") + 3]: call for call in _forward_calls(tmp_path)}
    router = calls["service/rolloutlab-router"]
    assert router[router.index("--context") + 1] == "kind-rolloutlab"
    assert router[router.index("--namespace") + 1] == "envoy-gateway-system"
    assert router[router.index("--address") + 1] == "127.0.0.1"
    assert router[-1].endswith(":80") and calls["service/prometheus"][-1].endswith(":9090")
    status = target.status()
    assert status["up"] is True and set(status["forwards"]) == {"forward router", "forward prometheus", "forward load"}


def test_down_stops_every_forward_by_pid_and_destroys_the_stack(target: KubernetesTarget) -> None:
    target.up(["v1"], ready_timeout=20)
    pids = [p.pid for p in target.load_state().forwards]
    assert all(psutil.pid_exists(pid) for pid in pids)
    stopped = target.down()
    assert sorted(stopped) == ["forward load", "forward prometheus", "forward router", "stack kind"]
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert target.driver.calls[-1] == ("destroy", None)
    assert target.status() == {"up": False, "stack": "kind"}


def test_a_forward_that_fails_stops_the_others_and_names_its_log(target: KubernetesTarget,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "service/prometheus")
    with pytest.raises(NotReady, match="forward prometheus exited before becoming ready") as caught:
        target.up(["v1"], ready_timeout=20)
    assert "unable to forward service/prometheus" in str(caught.value)
    assert target.load_state().forwards == []  # the router forward that did start was stopped


def test_connect_reuses_live_forwards_and_reopens_dead_ones(target: KubernetesTarget) -> None:
    first = target.up(["v1"], ready_timeout=20)
    assert target.connect() == first
    for record in target.load_state().forwards:
        process = psutil.Process(record.pid)
        process.kill()
        process.wait(timeout=5)
    again = target.connect(ready_timeout=20)
    assert requests.get(f"{again.prometheus_url}/-/ready", timeout=5).status_code == 200
    assert target.driver.calls == [("up", {"versions": ["v1"]})]  # no second deployment


def test_load_starts_when_the_workers_have_connected(target: KubernetesTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    target.up(["v1"], ready_timeout=20)
    target.start_load(users=20, spawn_rate=5)
    assert "/swarm?user_count=20&spawn_rate=5.0" in target.load_stats()["swarms"]
    target.stop_load()
    assert "/stop?" in target.load_stats()["swarms"]
    with pytest.raises(LoadError, match="only 2 of 3 Locust workers connected"):
        target.start_load(users=1, spawn_rate=1, workers=3, timeout=1)


@pytest.mark.parametrize("versions, message", [([], "no versions"), (["v1", "v1"], "versions repeat: v1, v1")])
def test_bad_versions_are_refused_before_anything_runs(target: KubernetesTarget, versions: list[str], message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        target.up(versions)
    assert target.driver.calls == []


def test_unknown_stack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="unknown Kubernetes stack 'k3d' .*kind, minikube, existing"):
        KubernetesTarget(tmp_path, "k3d")


def test_without_the_pulumi_cli_up_says_what_to_install(tmp_path: Path, kubectl: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(kubectl.parent))  # kubectl only: no pulumi, wherever the tests run
    target = KubernetesTarget(tmp_path / "home", "kind", kubectl=str(kubectl))
    assert isinstance(target.driver, PulumiStack)
    with pytest.raises(ClusterError, match="needs the pulumi CLI on PATH"):
        target.up(["v1"])
    assert not (tmp_path / "home" / "cluster" / "kind" / "state.json").exists()


def test_cli_cluster_up_without_pulumi_fails_with_one_line(tmp_path: Path, kubectl: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from rolloutlab.cli import main

    monkeypatch.setenv("PATH", str(kubectl.parent))
    monkeypatch.setenv("ROLLOUTLAB_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(main, ["cluster", "up", "--versions", "v1"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: the Kubernetes target needs the pulumi CLI on PATH (https://www.pulumi.com/docs/install/); "
        "the local target (`rolloutlab up`) needs none"]
    status = CliRunner().invoke(main, ["cluster", "status", "--stack", "minikube"])
    assert status.exit_code == 0 and "not up on stack minikube" in status.output
