"""Read the lab's BentoML store from disk (without importing bentoml, which is slow to import).

Each bento carries src/build.json, written by models/build.py: the catalogue name, the content
manifest it was built from, its faults and its offline evaluation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutlab.paths import bentoml_home

if TYPE_CHECKING:
    from rolloutlab.zoo.catalogue import Catalogue


@dataclass(frozen=True)
class BuiltVersion:
    """A bento in the store that belongs to a catalogue name."""

    name: str
    version: str
    tag: str
    path: Path
    info: dict[str, Any]

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self.info.get("manifest", {}))

    @property
    def evaluation(self) -> dict[str, Any]:
        return dict(self.info.get("evaluation", {}))


def bento_dir(catalogue: Catalogue, version: str) -> Path:
    return bentoml_home() / "bentos" / catalogue.service / version


def read_build_info(path: Path) -> dict[str, Any] | None:
    """The build.json inside a bento directory, or None if it is not one of ours (or half-written)."""
    if not (path / "bento.yaml").is_file():
        return None
    try:
        info = json.loads((path / "src" / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def builds_of(catalogue: Catalogue, name: str) -> list[BuiltVersion]:
    """Every bento in the store built from the catalogue name `name` (normally zero or one)."""
    root = bentoml_home() / "bentos" / catalogue.service
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or not path.name.startswith(f"{name}-"):
            continue
        info = read_build_info(path)
        if info and info.get("name") == name:
            found.append(BuiltVersion(name, path.name, f"{catalogue.service}:{path.name}", path, info))
    return found


def built(catalogue: Catalogue, name: str) -> BuiltVersion | None:
    """The bento with exactly this entry's current content, if built."""
    version = catalogue.version_string(name)
    path = bento_dir(catalogue, version)
    info = read_build_info(path)
    if info is None:
        return None
    return BuiltVersion(name, version, f"{catalogue.service}:{version}", path, info)
