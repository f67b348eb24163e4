"""The documentation cannot drift from the code: the site builds strictly, covers every scenario, command,
schema field and model version, every example command parses, and the README's picture is current."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest
from pydantic import BaseModel, Field, field_validator

from rolloutlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HOOKS = DOCS / "hooks"
sys.path.insert(0, str(HOOKS))

import cli_reference  # noqa: E402
import schema_reference  # noqa: E402

HAND_WRITTEN = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if HOOKS not in p.parents)]
README_MAX_LINES = 150


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `mkdocs build --strict` makes it (broken links, anchors or missing pages fail it)."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def text_of(html_page: Path) -> str:
    return re.sub(r"<[^>]+>", " ", html_page.read_text(encoding="utf-8"))


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "strategies/canary/index.html",
                 "reference/cli/index.html", "reference/scenario/index.html", "models/index.html"):
        assert (site / page).is_file(), page


def test_the_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in [*(ROOT / "experiments").glob("*.yaml"),
                                   *(ROOT / "experiments" / "comparisons").glob("*.yaml")])


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_scenario_and_comparison_is_documented(name: str) -> None:
    pages = [p for p in HAND_WRITTEN if p.name != "README.md"]
    assert any(f"`{name}`" in p.read_text(encoding="utf-8") for p in pages), \
        f"experiments/{name}.yaml is in no page of docs/: add it to its strategy's page"
    if not name.startswith("compare-"):
        assert f"`{name}`" in (ROOT / "README.md").read_text(encoding="utf-8"), \
            f"experiments/{name}.yaml is missing from the README's scenario table"


def test_every_cli_command_and_option_is_in_the_generated_reference(site: Path) -> None:
    page = site / "reference" / "cli" / "index.html"
    html, text = page.read_text(encoding="utf-8"), text_of(page)
    for path, command in cli_reference.walk(main):
        assert f'id="{cli_reference.anchor(path)}"' in html, f"rolloutlab {' '.join(path)} has no section"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in text, f"rolloutlab {' '.join(path)} {opt} is not in the CLI reference"


def schema_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for inner in schema_reference._models_in(field.annotation):
            schema_models(inner, seen)


def test_every_scenario_field_is_in_the_generated_reference(site: Path) -> None:
    from rolloutlab.scenario import SCENARIO_MODELS

    page = site / "reference" / "scenario" / "index.html"
    html = page.read_text(encoding="utf-8")
    models: set[type[BaseModel]] = set()
    for model in SCENARIO_MODELS.values():
        schema_models(model, models)
    for model in models:
        assert f'id="{schema_reference.anchor(model)}"' in html, f"{model.__name__} has no section"
        for name in model.model_fields:
            assert f"<code>{name}</code>" in html, f"{model.__name__}.{name} is not in the scenario reference"


def test_every_catalogue_version_is_in_the_generated_model_table(site: Path) -> None:
    from rolloutlab.zoo.catalogue import load_catalogue

    html = (site / "models" / "index.html").read_text(encoding="utf-8")
    for name, spec in load_catalogue().versions.items():
        assert f"<code>{name}</code>" in html and spec.description.split(" — ")[0] in html, name


def test_a_field_added_to_a_schema_appears_in_its_reference_without_editing_the_docs() -> None:
    class Probe(BaseModel):
        """A section that exists only in this test."""

        patience: int = Field(3, ge=1, le=9)  # how many windows to wait
        # what to call it
        label: str | None = None

        @field_validator("label")
        @classmethod
        def _short(cls, label: str | None) -> str | None:
            if label and len(label) > 8:
                raise ValueError(f"label {label!r} is longer than 8 characters")
            return label

    text = "\n".join(schema_reference.sections([("Probe", Probe)]))
    assert "- `` label {label} is longer than 8 characters ``" in text
    assert "| `patience` | int | `3` | ≥ 1, ≤ 9 | how many windows to wait |" in text
    assert "| `label` | str or null | `null` | – | what to call it |" in text


def test_a_command_added_to_the_cli_appears_in_its_reference_without_editing_the_docs() -> None:
    @click.group()
    def root() -> None:
        """Root."""

    @root.command()
    @click.option("--depth", type=click.IntRange(1, 5), default=2, help="How deep to look.")
    def inspect(depth: int) -> None:
        """Look inside."""

    text = cli_reference.render(root)
    assert "{ #rolloutlab-inspect }" in text and "Look inside." in text
    assert "| `--depth` | option | INTEGER RANGE | `2` | How deep to look. |" in text


# --- every example command in the docs parses -------------------------------------------------------------

PROGRAM = re.compile(r"^(?:\.venv/bin/)?rolloutlab(?:\s+(.*))?$")


def example_commands() -> list[tuple[str, str]]:
    """(where, arguments) of every `rolloutlab …` command in a fenced code block of the hand-written pages."""
    found = []
    for page in HAND_WRITTEN:
        in_block = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            code = re.split(r"\s#\s", f" {line} ")[0]  # drop the comment explaining the line
            for part in code.split("&&") if in_block else []:
                match = PROGRAM.match(part.strip())
                if match:
                    found.append((f"{page.relative_to(ROOT)}:{number}", (match.group(1) or "").strip()))
    return found


def check_parses(line: str) -> None:
    """The command the line names exists, and its parser accepts the line's options (as --help lists them)."""
    args = shlex.split(line)
    command: click.Command = main
    path = ["rolloutlab"]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        name = args.pop(0)
        assert name in command.commands, f"{' '.join(path)} has no command {name!r}"
        command = command.commands[name]
        path.append(name)
    ctx = click.Context(command, info_name=" ".join(path))
    values, rest, _ = command.make_parser(ctx).parse_args(args)  # unknown options raise NoSuchOption
    assert not rest, f"{' '.join(path)}: unexpected arguments {rest}"
    for param in command.params:
        value = values.get(param.name or "")
        given = isinstance(value, str) or (isinstance(value, (list, tuple)) and bool(value))  # else click's UNSET
        if given and not isinstance(param.type, (click.Path, click.File)):
            param.type_cast_value(ctx, value)  # a wrong choice or a number out of range raises BadParameter


def help_examples() -> list[tuple[str, str]]:
    """(command, arguments) of every line under an `Examples:` heading in a command's --help."""
    found = []
    for path, command in cli_reference.walk(main):
        in_examples = False
        for line in (command.help or "").splitlines():
            stripped = line.strip()
            if stripped.endswith(":") and not stripped.startswith("rolloutlab"):
                in_examples = stripped.lower() == "examples:"
            elif in_examples and stripped.startswith("rolloutlab "):
                code = re.split(r"\s{2,}", stripped)[0]  # the words after two spaces explain the example
                found.append((" ".join(("rolloutlab", *path)), code.removeprefix("rolloutlab ")))
    return found


DOC_EXAMPLES = example_commands()
EXAMPLES = DOC_EXAMPLES + [(f"`{where} --help`", line) for where, line in help_examples()]


def test_the_docs_have_example_commands_to_check() -> None:
    # the extraction itself must not silently find nothing
    assert len(DOC_EXAMPLES) >= 30 and len(EXAMPLES) - len(DOC_EXAMPLES) >= 20, EXAMPLES


@pytest.mark.parametrize(("where", "line"), EXAMPLES, ids=[f"{w}: {l}" for w, l in EXAMPLES])
def test_every_example_command_in_the_docs_and_in_the_commands_help_parses(where: str, line: str) -> None:
    try:
        check_parses(line)
    except (click.UsageError, click.BadParameter, AssertionError) as exc:
        pytest.fail(f"{where}: `rolloutlab {line}`: {exc}")


def test_a_mistyped_example_is_caught() -> None:
    with pytest.raises(click.UsageError):
        check_parses("run canary-basic --time-scal 0.5")
    with pytest.raises(AssertionError):
        check_parses("models biuld v2")


# --- the README's picture ----------------------------------------------------------------------------------

def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_picture_is_what_its_recorded_run_draws_today() -> None:
    figure = load_script("readme_figure")
    assert figure.PICTURE.read_bytes() == figure.render(), \
        "docs/images/canary-slow-latency.png is out of date: run .venv/bin/python scripts/readme_figure.py"
    assert figure.PICTURE.relative_to(ROOT / "docs").as_posix() in (ROOT / "README.md").read_text(encoding="utf-8")
