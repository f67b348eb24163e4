"""The images the node layer runs, built here with Docker (nothing can be pulled) and loaded into the node.

- the lab's model images: `rolloutlab models containerize` (the debootstrap base, scripts/build-base-image.sh);
- Prometheus: this machine's `prometheus` binary on that same base.
Each image's tag is derived from its content (bento tag; the binary's sha256), so a CI run that finds the
tag in Docker builds nothing, and the archive loaded into the node is cached beside it by image ID.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from rolloutlab.zoo.container import LOCAL_BASE_IMAGE, ensure_base_image, image_exists

PROMETHEUS_REPOSITORY = "rolloutlab-prometheus"
PROMETHEUS_DOCKERFILE = f"""\
FROM {LOCAL_BASE_IMAGE}
COPY prometheus /bin/prometheus
USER 65534
ENTRYPOINT ["/bin/prometheus"]
"""


def model_images(versions: list[str]) -> dict[str, str]:
    """Containerize each version (Docker's cache makes a rebuild of the same bento a no-op); version -> tag."""
    from rolloutlab import zoo
    from rolloutlab.zoo.container import containerize

    catalogue = zoo.load_catalogue()
    return {version: containerize(catalogue, version).alias for version in versions}


def prometheus_image() -> str:
    """`rolloutlab-prometheus:<sha256 of the binary and Dockerfile>`, built on the local base if missing."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("no prometheus binary on PATH (scripts/bootstrap.sh installs it)")
    digest = hashlib.sha256(Path(binary).read_bytes() + PROMETHEUS_DOCKERFILE.encode()).hexdigest()[:16]
    tag = f"{PROMETHEUS_REPOSITORY}:{digest}"
    if not image_exists(tag):
        ensure_base_image(LOCAL_BASE_IMAGE, lambda _: None)
        with tempfile.TemporaryDirectory(prefix="rolloutlab-prometheus-image-") as tmp:
            shutil.copy(binary, Path(tmp) / "prometheus")
            (Path(tmp) / "Dockerfile").write_text(PROMETHEUS_DOCKERFILE, encoding="utf-8")
            _check(["docker", "build", "-q", "-t", tag, tmp], f"docker build of {tag}")
    return tag


def load_into_node(testbed: Path, state: Path, image: str, cache: Path) -> None:
    """`docker save` the image once per image ID (cached archive), then the testbed's load-image.sh."""
    image_id = _check(["docker", "image", "inspect", "--format", "{{.Id}}", image], "docker inspect").strip()
    archive = cache / f"{image_id.removeprefix('sha256:')[:24]}-{image.replace('/', '_').replace(':', '_')}.tar"
    if not archive.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".part")
        _check(["docker", "save", "-o", str(partial), image], f"docker save {image}")
        partial.rename(archive)
    _check(["bash", str(testbed / "load-image.sh"), str(state), str(archive)], f"load-image.sh {image}")


def _check(argv: list[str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {done.stderr[-1500:] or done.stdout[-1500:]}")
    return done.stdout
