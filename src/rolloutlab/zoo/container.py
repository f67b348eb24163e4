"""Build an OCI image of one version with Docker: its bento and model on a configurable base image.

The image reference is the bento tag (`digits-classifier:v2-<hash>`: content-addressed, immutable); the
image is also tagged with the catalogue name (`digits-classifier:v2`, what K8sNames.image("v2") names),
which stays unambiguous because a name is never rebuilt with other content.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.errors import RolloutLabError
from rolloutlab.k8s_names import MODEL_PORT, K8sNames
from rolloutlab.paths import bentoml_home, project_root
from rolloutlab.zoo.builder import ensure_built
from rolloutlab.zoo.catalogue import Catalogue
from rolloutlab.zoo.store import built

Progress = Callable[[str], None]
# Built locally by scripts/build-base-image.sh when missing: no registry needed.
LOCAL_BASE_IMAGE = "rolloutlab-base:bookworm-py311"
# Lines of `docker build` (legacy builder) and of the base-image script worth showing as progress.
SHOWN_LINES = ("Step ", "Successfully", "debootstrap", "docker import", "built ", "base image")


class ContainerError(RolloutLabError):
    """Docker is missing or not running, the base image is unavailable, or the image build failed."""


@dataclass(frozen=True)
class Image:
    reference: str  # content-addressed: <service>:<name>-<hash>
    alias: str  # <service>:<name>
    base_image: str
    seconds: float


def default_base_image() -> str:
    return os.environ.get("ROLLOUTLAB_BASE_IMAGE", LOCAL_BASE_IMAGE)


def docker_problem() -> str | None:
    """Why Docker cannot build images here, or None when a Docker engine answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "the docker CLI is not installed"
    try:
        result = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                                text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if result.returncode != 0 or not result.stdout.strip():
        reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no Docker engine is running ({reason}); start one, e.g. `dockerd > /tmp/dockerd.log 2>&1 &` as root"
    return None


def image_exists(reference: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", reference], capture_output=True).returncode == 0


def ensure_base_image(base_image: str, progress: Progress) -> None:
    """Use the base image if Docker has it; build the local one if it is the one missing; else explain."""
    if image_exists(base_image):
        return
    if base_image != default_base_image() and base_image != LOCAL_BASE_IMAGE:
        raise ContainerError(
            f"base image {base_image} is not in the local Docker engine; `docker pull {base_image}` where a "
            f"registry is reachable, or build the local base: scripts/build-base-image.sh {base_image}"
        )
    progress(f"building the local base image {base_image} (debootstrap + docker import; about a minute)")
    script = project_root() / "scripts" / "build-base-image.sh"
    _stream(["bash", str(script), base_image], progress, f"building base image {base_image}")


def _stream(command: list[str], progress: Progress, what: str) -> None:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        buildkit_step = line.startswith("#") and "] " in line and "[internal]" not in line
        if buildkit_step or line.startswith(SHOWN_LINES):
            progress(f"  {line}")
    if process.wait() != 0:
        raise ContainerError(f"{what} failed (exit {process.returncode}); last lines:\n" + "\n".join(tail))


def _make_readable(root: Path) -> None:
    # BentoML creates the store's directories 0700; the server in the image runs as another user.
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        executable = path.is_dir() or mode & stat.S_IXUSR
        path.chmod(mode | stat.S_IRGRP | stat.S_IROTH | ((stat.S_IXGRP | stat.S_IXOTH) if executable else 0))


def build_context(catalogue: Catalogue, name: str, into: Path) -> Path:
    """bento/ (from the store) with bento/models/<model>/<version>/ beside it, and the Dockerfile."""
    build = built(catalogue, name)
    if build is None:
        raise ContainerError(f"{name} is not built; run `rolloutlab models build {name}`")
    bento = into / "bento"
    shutil.copytree(build.path, bento)
    model_store = bento / "models" / catalogue.model
    shutil.copytree(bentoml_home() / "models" / catalogue.model / build.version, model_store / build.version)
    (model_store / "latest").write_text(build.version, encoding="utf-8")
    _make_readable(bento)
    shutil.copy(project_root() / "docker" / "model.Dockerfile", into / "Dockerfile")
    return into


def containerize(
    catalogue: Catalogue, name: str, base_image: str | None = None, progress: Progress = lambda _: None
) -> Image:
    """Build (or refresh from Docker's cache) the image of a version; returns its references."""
    problem = docker_problem()
    if problem:
        raise ContainerError(f"cannot build an image: {problem}")
    base_image = base_image or default_base_image()
    started = time.monotonic()
    built_now = ensure_built([name], catalogue, progress=progress)
    if built_now:
        progress(f"built {catalogue.bento_tag(name)}")
    ensure_base_image(base_image, progress)
    reference = catalogue.bento_tag(name)
    alias = K8sNames(service=catalogue.service).image(name)
    identity = catalogue.identity(name)
    spec = catalogue.versions[name]
    labels = {
        "org.opencontainers.image.title": catalogue.service,
        "org.opencontainers.image.version": identity.version,
        "org.opencontainers.image.description": spec.description,
        "dev.rolloutlab.version": name,
        "dev.rolloutlab.content-hash": identity.digest,
        "dev.rolloutlab.faults": ",".join(spec.faults.kinds()) or "none",
        "dev.rolloutlab.base-image": base_image,
        "dev.rolloutlab.port": str(MODEL_PORT),
    }
    with tempfile.TemporaryDirectory(prefix="rolloutlab-image-") as tmp:
        context = build_context(catalogue, name, Path(tmp))
        command = ["docker", "build", "--build-arg", f"BASE_IMAGE={base_image}", "-t", reference, "-t", alias]
        for key, value in labels.items():
            command += ["--label", f"{key}={value}"]
        progress(f"docker build {reference} on {base_image}")
        _stream([*command, str(context)], progress, f"docker build of {reference}")
    return Image(reference, alias, base_image, time.monotonic() - started)
