"""The real-node layer: the lab's own Pulumi program on the testbed's real node, with real pods and real traffic.

Once per session (`node_lab`): the control plane `up.sh --node`, the node (`node-up.sh`: containerd,
kubelet, kube-proxy), the gateway (`gateway-up.sh`: Traefik as GatewayClass `traefik` on 127.0.0.1);
the lab's model images and its Prometheus image built here and loaded into the node (tests/node/images.py);
`pulumi up` of stacks/ for the stack `existing` with the gateway named by the stack (gatewayClass traefik,
the listener on $GATEWAY_PORT, Traefik's metrics relayed to the node address for the in-cluster Prometheus),
Pod Security `restricted` as the stack ships it; then every pod Ready. Each phase is timed and printed.
Without root, cgroups, the testbed's node bundle, its prerequisites or a Docker engine the layer is
skipped with the reason. Only one real node can run on a machine (fixed bridges and addresses).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.node.images import load_into_node, model_images, prometheus_image
from tests.testbed.conftest import PROJECT, TESTBED, _cache_dir, _env_file, _run
from tests.testbed.timings import record

NODE_ADDRESS = "10.89.0.1"  # the testbed's node; pods reach the host only here
VERSIONS = ["v1", "v2"]
NAMESPACE = "rolloutlab"
NODE_TOOLS = ("containerd", "runc", "iptables-save", "conntrack", "nft")


def node_missing() -> str | None:
    """Why the real node cannot run here, or None."""
    if not (TESTBED / "node.tar.zst").is_file() or not (TESTBED / "node-up.sh").is_file():
        return f"the testbed at {TESTBED} has no node bundle (node.tar.zst, node-up.sh)"
    if os.geteuid() != 0:
        return "the real node needs root (kubelet, containerd, bridges, iptables)"
    if not Path("/sys/fs/cgroup").is_dir() or not os.listdir("/sys/fs/cgroup"):
        return "no cgroup file system at /sys/fs/cgroup (the kubelet needs one)"
    tools = [t for t in NODE_TOOLS if shutil.which(t) is None]
    if tools:
        return f"the node needs {', '.join(tools)} (.ci/run installs them with the testbed's node-prereqs.sh)"
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine answers: the lab's images are built with Docker"
    if shutil.which("go") is None:
        return "no Go toolchain to build Prometheus with Kubernetes discovery (Debian's package lacks it)"
    return None


def host_state() -> dict[str, str]:
    """What the node changes on the host and must restore: links, iptables rules, mounts."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return {
        "links": " ".join(sorted(line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line)),
        "iptables": "\n".join(sorted(line.split(" [")[0] if line.startswith(":") else line
                                     for line in rules.splitlines() if line and not line.startswith("#"))),
        "mounts": "\n".join(sorted(line for line in Path("/proc/mounts").read_text().splitlines()
                                   if "/k8s" in line or "kubelet" in line or "containerd" in line or "netns" in line)),
    }


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class NodeLab:
    """The lab deployed on the real node: how to reach its gateway, Prometheus, API and Pulumi stack."""

    state: Path
    env: dict[str, str]
    gateway_url: str
    gateway_metrics_url: str
    stack: object  # pulumi.automation.Stack
    work_dir: Path
    host_before: dict[str, str]
    node_bin: Path
    prometheus_url: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)
    destroyed: bool = False
    down: bool = False

    def kubectl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def restart_gateway(self) -> None:
        """Stop Traefik (gateway-down.sh) and start it again on the same entrypoint port."""
        _run(["bash", str(TESTBED / "gateway-down.sh"), str(self.state)], "gateway-down.sh", timeout=60)
        port = self.gateway_url.rsplit(":", 1)[1]
        _run(["bash", str(TESTBED / "gateway-up.sh"), str(self.node_bin), str(self.state), "--port", port],
             "gateway-up.sh --port", timeout=120)

    def destroy(self) -> None:
        if not self.destroyed:
            with record("node: pulumi destroy"):
                self.stack.destroy(color="never")
            self.destroyed = True

    def teardown(self) -> None:
        """Destroy the stack (if a test has not), stop what the layer started by PID, then the testbed."""
        try:
            self.destroy()
        finally:
            for process in self.processes:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.processes.clear()
            if not self.down:
                with record("node: down.sh --purge (gateway, node drained, control plane)"):
                    subprocess.run(["bash", str(TESTBED / "down.sh"), str(self.state), "--purge"],
                                   capture_output=True, timeout=300, check=False)
                self.down = True


def _stack_config(gateway_port: int, metrics_target: str, prometheus: str) -> dict[str, object]:
    return {
        "rolloutlab:cluster": "existing",
        "rolloutlab:kubeContext": "realk8s",
        "rolloutlab:loadImages": False,
        "rolloutlab:imagePullPolicy": "Never",  # loaded into the node; never a registry
        "rolloutlab:gatewayClass": "traefik",
        "rolloutlab:gatewayPort": gateway_port,
        "rolloutlab:gatewayMetrics": metrics_target,
        "rolloutlab:prometheusImage": prometheus,
        "rolloutlab:loadWorkers": 0,
        "rolloutlab:versions": VERSIONS,
    }


@pytest.fixture(scope="session")
def node_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeLab]:
    reason = node_missing()
    if reason:
        pytest.skip(reason)
    from pulumi import automation as auto

    from tests.testbed.pulumi_project import STACK, make_project

    root = Path(f"/tmp/k8s-node-{os.getpid()}")  # short: unix socket paths under it
    state = root / "cp"
    cache = _cache_dir()
    with record("node: install bundles (unpack, verify)"):
        bin_dir = _run(["bash", str(TESTBED / "install.sh"), str(cache / "bin")], "install.sh").strip().splitlines()[-1]
        node_bin = _run(["bash", str(TESTBED / "install.sh"), str(cache / "node"), "node"],
                        "install.sh node").strip().splitlines()[-1]
    host_before = host_state()
    lab: NodeLab | None = None
    started: list[subprocess.Popen] = []
    patch = pytest.MonkeyPatch()  # undone after the teardown, which needs `pulumi` on PATH too
    try:
        with record("node: control plane up --node"):
            _run(["bash", str(TESTBED / "up.sh"), bin_dir, str(state), "--node"], "up.sh --node", timeout=180)
        with record("node: node-up (containerd, kubelet, kube-proxy, DNS)"):
            _run(["bash", str(TESTBED / "node-up.sh"), node_bin, str(state)], "node-up.sh", timeout=300)
        with record("node: gateway-up (Traefik)"):
            _run(["bash", str(TESTBED / "gateway-up.sh"), node_bin, str(state)], "gateway-up.sh", timeout=180)
        env = {**os.environ, **_env_file(state / "env.sh"), **_env_file(state / "node" / "env.sh"),
               **_env_file(state / "gateway" / "env.sh"),
               "PULUMI_PYTHON_CMD": sys.executable, "PULUMI_CONFIG_PASSPHRASE": "ci",
               "PULUMI_HOME": str(root / "pulumi-home"), "PULUMI_BACKEND_URL": f"file://{root / 'pulumi-state'}"}
        (root / "pulumi-state").mkdir(parents=True)
        # The Automation API finds `pulumi` and the kubernetes client its kubeconfig in the environment.
        for name in ("KUBECONFIG", "PATH", "PULUMI_PYTHON_CMD", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_HOME",
                     "PULUMI_BACKEND_URL", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"):
            patch.setenv(name, env[name])
        gateway_port = int(env["GATEWAY_URL"].rsplit(":", 1)[1])
        metrics_port = int(env["GATEWAY_METRICS_URL"].split(":")[2].split("/")[0])

        with record("node: images built (cached by content)"):
            images = [*model_images(VERSIONS).values(), prometheus_image(cache / "prometheus")]
        with record("node: images loaded into the node"):
            for image in images:
                load_into_node(TESTBED, state, image, cache / "images")

        relay_port = _free_port(NODE_ADDRESS)
        relay = subprocess.Popen([sys.executable, "-m", "tests.node.relay", NODE_ADDRESS, str(relay_port),
                                  str(metrics_port)], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
        started.append(relay)
        assert relay.stdout is not None and relay.stdout.readline().strip() == "ready", "the metrics relay did not start"

        work_dir = make_project(PROJECT, root / "project", env["PULUMI_BACKEND_URL"])
        (work_dir / "config" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(
            {"config": _stack_config(gateway_port, f"{NODE_ADDRESS}:{relay_port}", images[-1])}, sort_keys=False))
        stack = auto.create_or_select_stack(stack_name=STACK, work_dir=str(work_dir),
                                            opts=auto.LocalWorkspaceOptions(env_vars=env))
        lab = NodeLab(state, env, env["GATEWAY_URL"], env["GATEWAY_METRICS_URL"], stack, work_dir, host_before,
                      Path(node_bin), processes=started)
        with record("node: pulumi up (the lab's program, gateway traefik)"):
            stack.up(color="never", on_output=lambda _: None)
        with record("node: every pod Ready"):
            waited = lab.kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", "pods", "--all", "--timeout=240s",
                                 timeout=260)
            pods = lab.kubectl("-n", NAMESPACE, "get", "pods", "-o", "wide").stdout
            assert waited.returncode == 0, f"pods not Ready: {waited.stderr}\n{pods}"
        with record("node: gateway serves the route"):
            _wait_for_route(lab)
        lab.prometheus_url = _forward_prometheus(lab, root)
        yield lab
    finally:
        try:
            if lab is not None:
                lab.teardown()
            else:
                for process in started:
                    process.terminate()
                    process.wait(timeout=10)
                subprocess.run(["bash", str(TESTBED / "down.sh"), str(state), "--purge"], capture_output=True,
                               timeout=300, check=False)
        finally:
            patch.undo()
            shutil.rmtree(root, ignore_errors=True)  # the stack's state and project copy; down.sh --purge took the rest


def _wait_for_route(lab: NodeLab) -> None:
    import httpx

    from tests.node.traffic import PAYLOAD

    deadline = time.monotonic() + 60
    last = ""
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(f"{lab.gateway_url}/predict", json=PAYLOAD, timeout=5)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    pytest.fail(f"the gateway never answered /predict through the lab's route: {last}")


def _forward_prometheus(lab: NodeLab, root: Path) -> str:
    """`kubectl port-forward` to the in-cluster Prometheus on a free 127.0.0.1 port (stopped by the teardown)."""
    import httpx

    port = _free_port("127.0.0.1")
    forward = subprocess.Popen(["kubectl", "-n", NAMESPACE, "port-forward", "svc/prometheus", f"{port}:9090"],
                               env=lab.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab.processes.append(forward)
    url = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail("the port-forward to the in-cluster Prometheus never answered")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.testbed.timings import lines

    node_lines = [line for line in lines() if "node:" in line]
    if node_lines:
        terminalreporter.section("real node timings")
        for line in node_lines:
            terminalreporter.write_line(line)

