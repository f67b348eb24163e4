"""The real-control-plane layer: a real kube-apiserver (kwok nodes, no data plane) and the real Pulumi engine.

The testbed is `../shared/testbed` beside the checkout (or $ROLLOUTLAB_TESTBED). It is brought up once
for this package, exactly as its README says (install.sh into a cache, up.sh into a temp dir, the
Gateway API and Envoy Gateway CRDs applied, Pulumi with a local file backend), and stopped by its
recorded PIDs (down.sh --purge) when the package's tests are done. The lab's stack (`deployed`) is
deployed once for the package too: `pulumi up` and `destroy` take most of this layer's time. Without it the layer is skipped
with the reason. Every phase's time is printed at the end of the session (`timings`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.testbed.timings import record, report

if TYPE_CHECKING:
    from kubernetes import client
    from pulumi import automation as auto

    from tests.testbed.pulumi_project import Steps

PROJECT = Path(__file__).resolve().parents[2]
TESTBED = Path(os.environ.get("ROLLOUTLAB_TESTBED") or PROJECT.parent / "shared" / "testbed")
GATEWAY_API_CRDS = TESTBED.parent / "crds" / "gateway-api-v1.6.1"
ENVOY_GATEWAY_CRDS = TESTBED / "crds" / "envoy-gateway-v1.9.0"
TOOLS = ("bash", "zstd", "tar", "sha256sum", "python3", "curl", "openssl")


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane: its kubeconfig (context realk8s) and the environment Pulumi runs with."""

    dir: Path
    state: Path
    kubeconfig: Path
    env: dict[str, str]

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)


def _missing() -> str | None:
    if not (TESTBED / "up.sh").is_file():
        return f"no testbed at {TESTBED} (../shared/testbed beside the checkout, or set ROLLOUTLAB_TESTBED)"
    tools = [t for t in TOOLS if shutil.which(t) is None]
    if tools:
        return f"the testbed needs {', '.join(tools)} on PATH (.ci/run installs them on Debian)"
    return None


def _cache_dir() -> Path:
    digest = next((line.split()[3][:16] for line in (TESTBED / "MANIFEST").read_text().splitlines()
                   if line.split()[:1] == ["bin.tar.zst"]), "unknown")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rolloutlab-testbed" / digest


def _env_file(path: Path) -> dict[str, str]:
    """The exports of the env.sh up.sh wrote (`export NAME="value"`), with $PATH expanded."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = value.strip('"').replace("$PATH", os.environ.get("PATH", ""))
    return env


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


@pytest.fixture(scope="package")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The control plane, up for this package's tests; stopped by PID and deleted afterwards."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("testbed")
    state = root / "k8s"
    with record("testbed install (unpack, verify)"):
        bin_dir = _run(["bash", str(TESTBED / "install.sh"), str(_cache_dir())], "testbed install.sh").strip().splitlines()[-1]
    try:
        with record("testbed up (etcd, apiserver, controller-manager, scheduler, kwok)"):
            _run(["bash", str(TESTBED / "up.sh"), bin_dir, str(state)], "testbed up.sh", timeout=120)
        env = {**os.environ, **_env_file(state / "env.sh"),
               # The language host runs the program with this interpreter: the project's venv.
               "PULUMI_PYTHON_CMD": sys.executable, "PULUMI_CONFIG_PASSPHRASE": "ci",
               "PULUMI_HOME": str(root / "pulumi-home"), "PULUMI_BACKEND_URL": f"file://{root / 'pulumi-state'}"}
        (root / "pulumi-state").mkdir()
        bed = ControlPlane(TESTBED, state, Path(env["KUBECONFIG"]), env)
        with record("Gateway API + Envoy Gateway CRDs applied"):
            _run(["kubectl", "apply", "--server-side", "-f", str(GATEWAY_API_CRDS), "-f", str(ENVOY_GATEWAY_CRDS)],
                 "applying the CRDs", env=env)
            _run(["kubectl", "wait", "--for=condition=Established", "--timeout=60s", "crd/httproutes.gateway.networking.k8s.io",
                  "crd/gateways.gateway.networking.k8s.io", "crd/envoyproxies.gateway.envoyproxy.io"], "CRDs", env=env)
        with pytest.MonkeyPatch.context() as patch:
            # The Automation API and the kubernetes client read these from the environment.
            for name in ("KUBECONFIG", "PATH", "PULUMI_PYTHON_CMD", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_HOME",
                         "PULUMI_BACKEND_URL", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"):
                patch.setenv(name, env[name])
            yield bed
    finally:
        started = time.monotonic()
        subprocess.run(["bash", str(TESTBED / "down.sh"), str(state), "--purge"], capture_output=True, timeout=120,
                       check=False)
        report("testbed down (by recorded PIDs)", time.monotonic() - started)


@dataclass
class Deployed:
    """The lab's stack on the testbed: its Pulumi project dir, an API client, and what the first `up` did."""

    stack: auto.Stack
    work_dir: Path
    api: client.ApiClient
    first_up: auto.UpResult
    first_steps: Steps
    destroyed: bool = False


@pytest.fixture(scope="package")
def deployed(testbed: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """`pulumi up` of the lab's own program (stack `existing`, context realk8s) once for the package."""
    from kubernetes import config

    from tests.testbed.pulumi_project import make_project, select, up

    work_dir = make_project(PROJECT, tmp_path_factory.mktemp("pulumi-project") / "project",
                            testbed.env["PULUMI_BACKEND_URL"])
    stack = select(work_dir, testbed.env)
    with record("pulumi up (first: create everything)"):
        result, steps = up(stack)
    api = config.new_client_from_config(config_file=str(testbed.kubeconfig), context="realk8s")
    run = Deployed(stack, work_dir, api, result, steps)
    yield run
    if not run.destroyed:  # a failed test before the destroy test: never leave the stack behind
        stack.destroy(color="never")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.testbed.timings import lines

    if lines():
        terminalreporter.section("real control plane (testbed) timings")
        for line in lines():
            terminalreporter.write_line(line)
