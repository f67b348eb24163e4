"""The model catalogue page's table, generated from models/versions.yaml (never copied by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel


def _compact(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_compact(v)}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_table(path: Path) -> str:
    """One row per version: description, recipe (or the version it reuses it from) and build-time faults."""
    from rolloutlab.zoo.catalogue import load_catalogue

    catalogue = load_catalogue(path)
    lines = [f"Generated from `{path.name}` at build time: model `{catalogue.model}`, service `{catalogue.service}`.", "",
             "| version | description | recipe | faults |", "|---|---|---|---|"]
    for name, spec in catalogue.versions.items():
        recipe = f"{spec.recipe.algorithm}" + (f" ({_compact(spec.recipe.params)})" if spec.recipe.params else "")
        if spec.recipe.data.train_fraction != 1.0:
            recipe += f", trained on {spec.recipe.data.train_fraction:g} of the training rows"
        if spec.recipe_from != name:
            recipe = f"{spec.recipe_from}'s: {recipe}"
        faults = spec.faults.model_dump(exclude_none=True, exclude_defaults=True)
        shown = "; ".join(f"{kind}: {_compact(getattr(spec.faults, kind))}" for kind in faults if kind != "seed") or "–"
        lines.append(f"| `{name}` | {spec.description.replace('|', '/')} | {recipe} | {shown} |")
    serving = catalogue.serving.model_dump()
    lines += ["", "Every server enforces the catalogue's serving limits: "
              + ", ".join(f"`{k}` {v}" for k, v in serving.items()) + "."]
    return "\n".join(lines) + "\n"
