"""Load models/versions.yaml into a Catalogue: validated entries, `base` resolved, content tags on demand."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rolloutlab.errors import CatalogueError
from rolloutlab.paths import project_root
from rolloutlab.yamlfile import YamlDocument, dotted, load_yaml, plain_message
from rolloutlab.zoo.schema import CatalogueFile, Faults, Recipe, Serving


@dataclass(frozen=True)
class VersionSpec:
    """One version with its recipe resolved (a `base` entry carries its base's recipe)."""

    name: str
    description: str
    recipe: Recipe
    faults: Faults
    base: str | None = None
    recipe_from: str = ""  # the entry whose `recipe:` this version uses (itself, or the end of its `base:` chain)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "base": self.base,
            "recipe": self.recipe.model_dump(mode="json"),
            "faults": self.faults.model_dump(mode="json", exclude_none=True),
        }


@dataclass(frozen=True)
class Catalogue:
    model: str
    service: str
    versions: dict[str, VersionSpec]
    source: Path
    serving: Serving = Serving()
    doc: YamlDocument | None = field(default=None, repr=False, compare=False)
    _identities: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def require(self, versions: list[str]) -> None:
        unknown = [v for v in versions if v not in self.versions]
        if unknown:
            raise CatalogueError(
                f"unknown model version(s) {', '.join(unknown)} (catalogue {self.source} has: "
                f"{', '.join(sorted(self.versions))})"
            )

    def identity(self, name: str) -> Any:
        """The content identity of a version (rolloutlab.zoo.identity.Identity), computed once."""
        from rolloutlab.zoo.identity import identify

        self.require([name])
        if name not in self._identities:
            self._identities[name] = identify(self, name)
        return self._identities[name]

    def version_string(self, name: str) -> str:
        """The content-derived BentoML version of a catalogue name, e.g. `v2-3f9a1c2b7d4e`."""
        return str(self.identity(name).version)

    def bento_tag(self, name: str) -> str:
        """`<service>:<name>-<content hash>`: what `bentoml serve` runs, and the image reference."""
        return f"{self.service}:{self.version_string(name)}"

    def model_tag(self, name: str) -> str:
        return f"{self.model}:{self.version_string(name)}"

    def where(self, *loc: str | int) -> str:
        """'file:line' of a field, for error messages."""
        return self.doc.where(tuple(loc)) if self.doc else str(self.source)


def default_path() -> Path:
    """$ROLLOUTLAB_CATALOGUE when set (a catalogue of your own), else <project>/models/versions.yaml."""
    explicit = os.environ.get("ROLLOUTLAB_CATALOGUE")
    return Path(explicit) if explicit else project_root() / "models" / "versions.yaml"


def _validate(doc: YamlDocument) -> CatalogueFile:
    if not isinstance(doc.data, dict):
        raise CatalogueError(f"{doc.source}: the model catalogue must be a YAML mapping, got {type(doc.data).__name__}")
    try:
        return CatalogueFile.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if p != "[key]")
            bad_name = None
            if error["type"] == "string_pattern_mismatch":
                bad_name = (f"{json.dumps(error['input'])} is not a valid name: lowercase letters, digits and "
                            "inner dashes, at most 40 characters")
            entry = f" (version {loc[1]})" if len(loc) > 1 and loc[0] == "versions" else ""
            problems.append(f"  {doc.where(loc)}: {dotted(loc)}{entry}: {plain_message(error, bad_name)}")
        raise CatalogueError(f"invalid model catalogue {doc.source}:\n" + "\n".join(problems)) from None


def _resolve(parsed: CatalogueFile, doc: YamlDocument) -> dict[str, VersionSpec]:
    specs: dict[str, VersionSpec] = {}
    for name, entry in parsed.versions.items():
        seen = [name]
        current = entry
        while current.recipe is None:
            base = current.base or ""
            if base not in parsed.versions:
                raise CatalogueError(
                    f"{doc.where(('versions', seen[-1], 'base'))}: versions.{seen[-1]}.base: unknown version "
                    f"{base!r} (known: {', '.join(parsed.versions)})"
                )
            if base in seen:
                raise CatalogueError(
                    f"{doc.where(('versions', name, 'base'))}: versions.{name}.base: a cycle of bases "
                    f"({' → '.join([*seen, base])})"
                )
            seen.append(base)
            current = parsed.versions[base]
        specs[name] = VersionSpec(name, entry.description, current.recipe, entry.faults, entry.base, seen[-1])
    return specs


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read, validate and resolve the catalogue (default: <project>/models/versions.yaml)."""
    path = path or default_path()
    try:
        doc = load_yaml(path)
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read model catalogue: {exc}") from None
    parsed = _validate(doc)
    return Catalogue(parsed.model, parsed.service, _resolve(parsed, doc), path, parsed.serving, doc)
