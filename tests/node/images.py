"""The images the node layer runs, built here with Docker (nothing can be pulled) and loaded into the node.

- the lab's model images: `rolloutlab models containerize` (the debootstrap base, scripts/build-base-image.sh);
- Prometheus v3.5.0 (the stack's default `prom/prometheus:v3.5.0`) on that same base. Debian's `prometheus`
  package leaves out Kubernetes service discovery, which the stack's Prometheus needs, so the binary is
  built from its Go module (proxy) with only that discovery (build tags `remove_all_sd,enable_kubernetes_sd`),
  once per machine into a cache (a few minutes cold).
Each image's tag is derived from its content (bento tag; the binary's sha256), so a CI run that finds the
tag in Docker builds nothing, and the archive loaded into the node is cached beside it by image ID.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rolloutlab.zoo.container import LOCAL_BASE_IMAGE, ensure_base_image, image_exists

PROMETHEUS_REPOSITORY = "rolloutlab-prometheus"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus@v0.305.0"  # Prometheus v3.5.0
PROMETHEUS_TAGS = "remove_all_sd,enable_kubernetes_sd"
PROMETHEUS_DOCKERFILE = f"""\
FROM {LOCAL_BASE_IMAGE}
COPY prometheus /bin/prometheus
USER 65534
ENTRYPOINT ["/bin/prometheus"]
"""


def model_images(versions: list[str]) -> dict[str, str]:
    """Containerize each version whose content-addressed image Docker lacks; version -> the tag pods run."""
    from rolloutlab import zoo
    from rolloutlab.zoo.container import containerize

    from rolloutlab.k8s_names import K8sNames
    from rolloutlab.zoo.store import built

    catalogue = zoo.load_catalogue()
    names = K8sNames(service=catalogue.service)
    images = {}
    for version in versions:
        # The bento tag is content-addressed: an image under it is this version's, nothing to rebuild.
        if built(catalogue, version) is not None and image_exists(catalogue.bento_tag(version)):
            images[version] = names.image(version)
        else:
            images[version] = containerize(catalogue, version).alias
    return images


def prometheus_binary(cache: Path) -> Path:
    """Prometheus with Kubernetes service discovery, built with Go from its module unless cached."""
    binary = cache / f"prometheus-{PROMETHEUS_MODULE.rsplit('@', 1)[1]}-k8s-sd" / "prometheus"
    if binary.is_file():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("building Prometheus with Kubernetes discovery needs Go on PATH")
    listed = _check(["go", "mod", "download", "-json", PROMETHEUS_MODULE], f"go mod download {PROMETHEUS_MODULE}")
    import json

    with tempfile.TemporaryDirectory(prefix="rolloutlab-prometheus-src-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(json.loads(listed)["Dir"], source)  # the module cache is read-only; go build writes go.sum
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".part")
        done = subprocess.run(["go", "build", "-tags", PROMETHEUS_TAGS, "-o", str(partial), "./cmd/prometheus"],
                              cwd=source, capture_output=True, text=True, timeout=1800, env={**os.environ, "CGO_ENABLED": "0"},
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"go build of Prometheus failed: {done.stderr[-1500:]}")
        partial.rename(binary)
    return binary


def prometheus_image(cache: Path) -> str:
    """`rolloutlab-prometheus:<sha256 of the binary and Dockerfile>`, built on the local base if missing."""
    binary = prometheus_binary(cache)
    digest = hashlib.sha256(binary.read_bytes() + PROMETHEUS_DOCKERFILE.encode()).hexdigest()[:16]
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
