"""The shell commands the stack runs through pulumi-command, run by bash against recording stand-ins for kind/docker.

kind and a Docker engine cannot run here; the stand-ins record their arguments and stdin, so these
tests check what the commands would ask of the real tools (quoting, stdin, adoption, missing images).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from rolloutlab.infra.cluster import (
    KIND_NODE_IMAGES, cluster_commands, image_load_command, kind_cluster_config, kind_node_image,
)
from rolloutlab.infra.config import StackConfig
from rolloutlab.infra.load_image import DOCKERFILE, build_command, pins

RECORDER = """#!/usr/bin/env bash
# Records one call: its arguments, then its stdin when asked to read it.
{{ echo "$(basename "$0") $*"; if [[ " $* " == *" --config=- "* || " $* " == *" - "* ]]; then cat; fi; }} >> "{log}"
if [[ "$(basename "$0") $1 $2" == "kind get clusters" ]]; then printf '%s\\n' $KIND_CLUSTERS; fi
if [[ "$(basename "$0") $1 $2" == "docker image inspect" ]]; then [[ " $LOCAL_IMAGES " == *" $3 "* ]]; exit $?; fi
if [[ "$(basename "$0") $1 $2" == "docker save -o" ]]; then echo "archive of $4" > "$3"; fi
if [[ "$(basename "$0") $1 $2" == "kind load image-archive" ]]; then echo "loaded: $(cat "$3")" >> "{log}"; fi
exit 0
"""


@pytest.fixture()
def tools(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("kind", "docker", "minikube"):
        script = bin_dir / tool
        script.write_text(RECORDER.format(log=log))
        script.chmod(0o755)
    return bin_dir, log


def _run(script: str, bin_dir: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "-c", script], input=stdin, env=environment, capture_output=True, text=True,
                          timeout=10)


def test_kind_create_passes_the_cluster_config_on_stdin(tools: tuple[Path, Path]) -> None:
    bin_dir, log = tools
    config = StackConfig(kubernetes_version="v1.33.1")
    result = _run(cluster_commands(config)["create"], bin_dir, kind_cluster_config(config),
                  CLUSTER="rolloutlab", KIND_CLUSTERS="other")
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "kind create cluster --name rolloutlab --config=- --wait 180s" in calls
    stdin = yaml.safe_load(calls.split("--wait 180s\n", 1)[1])
    assert stdin["nodes"] == [{"role": "control-plane", "image": KIND_NODE_IMAGES["v1.33.1"]}]


def test_the_kind_node_image_is_pinned_by_digest() -> None:
    default = yaml.safe_load(kind_cluster_config(StackConfig()))["nodes"][0]["image"]
    assert default == "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
    assert kind_node_image("v1.33.1@sha256:" + "0" * 64) == "kindest/node:v1.33.1@sha256:" + "0" * 64
    assert kind_node_image("v1.31.9") == "kindest/node:v1.31.9"  # no digest known: the tag, as given


def test_kind_create_adopts_a_cluster_of_the_same_name(tools: tuple[Path, Path]) -> None:
    bin_dir, log = tools
    result = _run(cluster_commands(StackConfig())["create"], bin_dir, CLUSTER="rolloutlab",
                  KIND_CLUSTERS="other rolloutlab")
    assert result.returncode == 0, result.stderr
    assert "kind create" not in log.read_text()


def test_image_load_refuses_an_image_that_was_never_built(tools: tuple[Path, Path]) -> None:
    bin_dir, log = tools
    command = image_load_command(StackConfig())
    missing = _run(command, bin_dir, CLUSTER="rolloutlab", IMAGE="digits-classifier:v9", LOCAL_IMAGES="")
    assert missing.returncode == 1
    assert "image digits-classifier:v9 is not in the local Docker engine" in missing.stderr
    assert "rolloutlab models containerize" in missing.stderr
    loaded = _run(command, bin_dir, CLUSTER="rolloutlab", IMAGE="digits-classifier:v1",
                  LOCAL_IMAGES="digits-classifier:v1")
    assert loaded.returncode == 0, loaded.stderr
    calls = log.read_text()
    # docker save + image-archive, not `kind load docker-image` (kubernetes-sigs/kind#3795)
    assert "kind load docker-image" not in calls
    (archive,) = [line.split()[3] for line in calls.splitlines() if line.startswith("docker save -o ")]
    assert f"kind load image-archive {archive} --name rolloutlab" in calls
    assert "loaded: archive of digits-classifier:v1" in calls
    assert not Path(archive).exists()  # the archive is removed afterwards


def test_minikube_image_load_names_the_profile(tools: tuple[Path, Path]) -> None:
    bin_dir, log = tools
    result = _run(image_load_command(StackConfig(cluster="minikube")), bin_dir, CLUSTER="lab",
                  IMAGE="digits-classifier:v1", LOCAL_IMAGES="digits-classifier:v1")
    assert result.returncode == 0, result.stderr
    assert "minikube image load digits-classifier:v1 --profile lab" in log.read_text()


def test_load_image_is_built_from_the_dockerfile_on_stdin_at_the_locked_pins(tools: tuple[Path, Path]) -> None:
    bin_dir, log = tools
    result = _run(build_command(), bin_dir, DOCKERFILE, IMAGE="rolloutlab-load:x", LOCAL_IMAGES="", **pins())
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert f"--build-arg LOCUST_VERSION={pins()['LOCUST_VERSION']}" in calls
    assert f"--build-arg PROMETHEUS_CLIENT_VERSION={pins()['PROMETHEUS_CLIENT_VERSION']}" in calls
    assert calls.endswith(DOCKERFILE)
    log.unlink()
    again = _run(build_command(), bin_dir, DOCKERFILE, IMAGE="rolloutlab-load:x", LOCAL_IMAGES="rolloutlab-load:x", **pins())
    assert again.returncode == 0 and "docker build" not in log.read_text()  # the tag fixes the content
