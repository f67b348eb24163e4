"""`rolloutlab models containerize`: a real image, run like the Kubernetes Deployment runs it.

Needs a Docker engine (`.ci/run` starts one); skipped, saying why, where none answers. The base image
is the registry-free local one (debootstrap + docker import), built on first use and then cached.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rolloutlab import zoo
from rolloutlab.k8s_names import LIVENESS_PATH, MODEL_PORT, MODEL_USER_ID, READINESS_PATH, K8sNames
from rolloutlab.zoo.container import docker_problem
from tests.integration.conftest import rolloutlab

PROBLEM = docker_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=f"no Docker engine: {PROBLEM}")


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of the containers a test starts; all removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", name)


def run_container(containers: list[str], image: str, *args: str) -> str:
    # The Deployment's security context: a non-root user, no capabilities, no privilege escalation.
    name = f"rolloutlab-test-{uuid.uuid4().hex[:8]}"
    result = docker("run", "-d", "--name", name, "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                    *args, image)
    assert result.returncode == 0, result.stderr
    containers.append(name)
    return name


def wait_ready(check: callable, name: str, timeout: float = 120) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while not check():
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        assert state["Running"], f"container exited ({state['ExitCode']}): {docker('logs', name).stderr[-2000:]}"
        assert time.monotonic() < deadline, f"not ready after {timeout}s: {docker('logs', name).stderr[-2000:]}"
        time.sleep(0.5)


def test_containerized_version_serves_readyz_and_predict_as_non_root(home: Path, containers: list[str]) -> None:
    started = time.monotonic()
    result = rolloutlab("models", "containerize", "v2", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    catalogue = zoo.load_catalogue()
    reference = result.stdout.strip().splitlines()[-1]
    assert reference == catalogue.bento_tag("v2")  # the image reference is the content tag
    print(f"containerize v2 took {time.monotonic() - started:.0f}s")

    config = json.loads(docker("image", "inspect", reference).stdout)[0]["Config"]
    assert config["User"] == f"{MODEL_USER_ID}:{MODEL_USER_ID}"
    assert f"{MODEL_PORT}/tcp" in config["ExposedPorts"]
    assert config["Labels"]["dev.rolloutlab.content-hash"] == catalogue.identity("v2").digest
    alias = K8sNames(service=catalogue.service).image("v2")
    assert json.loads(docker("image", "inspect", alias).stdout)[0]["Id"] == \
        json.loads(docker("image", "inspect", reference).stdout)[0]["Id"]

    name = run_container(containers, reference, "-p", f"127.0.0.1::{MODEL_PORT}")
    port = docker("port", name, f"{MODEL_PORT}/tcp").stdout.split(":")[-1].strip()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(url + READINESS_PATH, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_ready(ready, name)
    assert requests.get(url + LIVENESS_PATH, timeout=5).status_code == 200
    rows = json.loads(zoo.holdout_path().read_text(encoding="utf-8"))[:4]
    response = requests.post(url + "/predict", json={"instances": [r["features"] for r in rows]}, timeout=10)
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "v2"
    assert response.json()["predictions"] == [r["label"] for r in rows]
    assert docker("exec", name, "id", "-u").stdout.strip() == str(MODEL_USER_ID)


def test_the_image_needs_no_network_to_start(home: Path, containers: list[str]) -> None:
    reference = zoo.load_catalogue().bento_tag("v2")
    if docker("image", "inspect", reference).returncode != 0:
        assert rolloutlab("models", "containerize", "v2", timeout=900).returncode == 0
    name = run_container(containers, reference, "--network", "none")
    probe = ("import urllib.request,sys; "
             f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{MODEL_PORT}{READINESS_PATH}', timeout=2)"
             ".status == 200 else 1)")
    wait_ready(lambda: docker("exec", name, "python3", "-c", probe).returncode == 0, name)


def test_an_unknown_base_image_is_refused_with_what_to_do(home: Path) -> None:
    result = rolloutlab("models", "containerize", "v1", "--base-image", "rolloutlab-test/no-such-base:0")
    assert result.returncode == 1
    assert "base image rolloutlab-test/no-such-base:0 is not in the local Docker engine" in result.stderr
    assert "scripts/build-base-image.sh" in result.stderr and "Traceback" not in result.stderr
