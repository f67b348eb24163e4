"""The model version catalogue (models/versions.yaml) and building its versions into the lab's BentoML store."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.errors import CatalogueError
from rolloutlab.paths import bentoml_env, bentoml_home, lab_home, project_root
from rolloutlab.yamlfile import load_yaml


@dataclass(frozen=True)
class Catalogue:
    model: str
    service: str
    versions: dict[str, dict]
    source: Path

    def require(self, versions: list[str]) -> None:
        unknown = [v for v in versions if v not in self.versions]
        if unknown:
            raise CatalogueError(
                f"unknown model version(s) {', '.join(unknown)} (catalogue {self.source} has: "
                f"{', '.join(sorted(self.versions))})"
            )

    def bento_tag(self, version: str) -> str:
        return f"{self.service}:{version}"


def load_catalogue(path: Path | None = None) -> Catalogue:
    path = path or project_root() / "models" / "versions.yaml"
    try:
        doc = load_yaml(path)
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read model catalogue: {exc}") from None
    data = doc.data if isinstance(doc.data, dict) else {}
    for field in ("model", "service", "versions"):
        if field not in data:
            raise CatalogueError(f"{doc.where(())}: model catalogue misses field {field!r}")
    if not isinstance(data["versions"], dict) or not data["versions"]:
        raise CatalogueError(f"{doc.where(('versions',))}: versions must be a non-empty mapping")
    return Catalogue(str(data["model"]), str(data["service"]), dict(data["versions"]), path)


def is_built(catalogue: Catalogue, version: str) -> bool:
    return (bentoml_home() / "bentos" / catalogue.service / version / "bento.yaml").is_file()


def holdout_path() -> Path:
    return lab_home() / "data" / "holdout.json"


def ensure_built(versions: list[str], catalogue: Catalogue | None = None) -> list[str]:
    """Build the versions not yet in the store (and the held-out rows); returns those it built."""
    catalogue = catalogue or load_catalogue()
    catalogue.require(versions)
    missing = [v for v in versions if not is_built(catalogue, v)]
    if not missing and holdout_path().is_file():
        return []
    holdout_path().parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(project_root() / "models" / "build.py"), *(missing or versions[:1])]
    command += ["--catalogue", str(catalogue.source), "--holdout", str(holdout_path())]
    result = subprocess.run(command, env=bentoml_env(), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise CatalogueError(f"building {', '.join(missing)} failed:\n{tail}")
    return missing
