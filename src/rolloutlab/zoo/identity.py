"""Content identity of a version: what it is made of (recipe, data, code, faults, runtime) and its hash.

The BentoML version of catalogue entry `v2` is `v2-<first 12 hex digits of sha256(manifest)>`: the name
keeps metrics readable (BentoML's `service_version` label shows `v2-…`), the hash makes the tag change
whenever anything the version is made of changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutlab.paths import project_root

if TYPE_CHECKING:
    from rolloutlab.zoo.catalogue import Catalogue

# Files a version's artifact is made from: training (the model), serving and faults (the bento), packing.
CODE_FILES = ("training.py", "service.py", "faults.py", "payloads.py", "request_body.py", "json_errors.py",
              "request_memory.py", "prediction_log.py", "build.py")
# Libraries whose versions change the trained model or its serving (the model is a pickled estimator).
RUNTIME_PACKAGES = ("bentoml", "scikit-learn", "numpy", "scipy", "joblib")
DIGEST_LENGTH = 12


@dataclass(frozen=True)
class Identity:
    name: str
    manifest: dict[str, Any]
    digest: str

    @property
    def version(self) -> str:
        return f"{self.name}-{self.digest}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def models_dir() -> Path:
    return project_root() / "models"


def code_fingerprint() -> dict[str, str]:
    folder = models_dir()
    return {f"models/{name}": _sha256(folder / name) for name in CODE_FILES}


@lru_cache(maxsize=1)
def data_fingerprint() -> dict[str, Any]:
    """The digits data file scikit-learn ships, found without importing scikit-learn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return {"dataset": "sklearn.datasets.load_digits", "sha256": "unavailable"}
    data_file = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    return {
        "dataset": "sklearn.datasets.load_digits",
        "sha256": _sha256(data_file) if data_file.is_file() else "unavailable",
    }


@lru_cache(maxsize=1)
def runtime_fingerprint() -> dict[str, str]:
    versions = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = installed_version(package)
        except PackageNotFoundError:
            versions[package] = "missing"
    return versions


def manifest_of(catalogue: Catalogue, name: str) -> dict[str, Any]:
    """Everything the version is made of, as canonical JSON-ready data (the name itself is not content)."""
    spec = catalogue.versions[name]
    return {
        "recipe": spec.recipe.model_dump(mode="json"),
        "faults": spec.faults.model_dump(mode="json", exclude_none=True),
        "serving": catalogue.serving.model_dump(mode="json"),
        "model": catalogue.model,
        "service": catalogue.service,
        "data": data_fingerprint(),
        "code": code_fingerprint(),
        "runtime": runtime_fingerprint(),
    }


def digest_of(manifest: dict[str, Any]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:DIGEST_LENGTH]


def identify(catalogue: Catalogue, name: str) -> Identity:
    manifest = manifest_of(catalogue, name)
    return Identity(name, manifest, digest_of(manifest))


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat or {prefix: {}}
    return {prefix: data}


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two manifests, e.g. `recipe.params.C: 10.0 → 5.0`."""
    before, after = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key, "∅") == after.get(key, "∅"):
            continue
        if key.startswith("code.") or key.endswith("sha256"):
            changes.append(f"{key.removeprefix('code.')} changed")
        elif key not in before:
            changes.append(f"{key} added ({after[key]!r})")
        elif key not in after:
            changes.append(f"{key} removed (was {before[key]!r})")
        else:
            changes.append(f"{key}: {before[key]!r} → {after[key]!r}")
    return changes
