"""MkDocs hook: the pages that must not drift from the code are generated from it at every build.

- reference/cli.md       from the click commands (cli_reference.py)
- reference/scenario.md  from the pydantic scenario schema (schema_reference.py)
- `<!-- generated: model-catalogue -->` in a page: the table of models/versions.yaml (catalogue.py)
- `<!-- generated: catalogue-schema -->` in a page: the reference of the catalogue file's schema

Nothing generated is committed, so there is nothing to forget to regenerate.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the generators beside this hook

import catalogue  # noqa: E402
import cli_reference  # noqa: E402
import schema_reference  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]
GENERATED_PAGES = ("reference/cli.md", "reference/scenario.md")
MARKERS = {
    "<!-- generated: model-catalogue -->": lambda: catalogue.render_table(PROJECT / "models" / "versions.yaml"),
    "<!-- generated: catalogue-schema -->": lambda: _catalogue_schema(),
}


def _catalogue_schema() -> str:
    from rolloutlab.zoo.schema import CatalogueFile

    lines = schema_reference.sections([("models/versions.yaml — CatalogueFile", CatalogueFile)])
    return "\n".join(line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in lines)


def page_source(path: str) -> str:
    """The Markdown of a generated page."""
    if path == "reference/cli.md":
        from rolloutlab.cli import main

        return cli_reference.render(main)
    if path == "reference/scenario.md":
        from rolloutlab.scenario import SCENARIO_MODELS

        return schema_reference.render(SCENARIO_MODELS)
    raise KeyError(path)


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path in GENERATED_PAGES:
        files.append(File.generated(config, path, content=page_source(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
