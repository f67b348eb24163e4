"""Experiment scenarios: the YAML schema (a union on `strategy`), loading with file:line errors, the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from rolloutlab.errors import ScenarioError
from rolloutlab.scenario.load import clean_location
from rolloutlab.paths import project_root
from rolloutlab.scenario.base import Analysis, ScenarioBase, Versions
from rolloutlab.scenario.experiments import AbTestScenario, BanditScenario, ShadowScenario
from rolloutlab.scenario.rollouts import BlueGreenScenario, CanaryScenario, Smoke
from rolloutlab.yamlfile import YamlDocument, dotted, parse_yaml, plain_message

__all__ = ["AbTestScenario", "Analysis", "BanditScenario", "BlueGreenScenario", "CanaryScenario", "ScenarioBase",
           "ShadowScenario", "Smoke", "Versions", "load_scenario", "list_scenarios", "validate_scenario"]
STRATEGY_TAG = "strategy="  # prefix of the union tags pydantic puts into error locations (not YAML keys)

SCENARIO_MODELS: dict[str, type[ScenarioBase]] = {
    "canary": CanaryScenario, "blue-green": BlueGreenScenario, "ab-test": AbTestScenario, "bandit": BanditScenario,
    "shadow": ShadowScenario,
}


def _strategy_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return f"{STRATEGY_TAG}{value.get('strategy')}"
    if isinstance(value, ScenarioBase):
        return f"{STRATEGY_TAG}{getattr(value, 'strategy')}"
    return None


Scenario = Annotated[
    Union[tuple(Annotated[model, Tag(f"{STRATEGY_TAG}{name}")] for name, model in SCENARIO_MODELS.items())],  # type: ignore[valid-type]
    Discriminator(_strategy_of, custom_error_type="invalid_strategy",
                  custom_error_message=f"expected one of {', '.join(SCENARIO_MODELS)}"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Scenario)


def experiments_dir() -> Path:
    return project_root() / "experiments"


def list_scenarios() -> list[Path]:
    """Every shipped scenario file, by name."""
    return sorted(experiments_dir().glob("*.yaml"))


def resolve_scenario(name_or_path: str) -> Path:
    """A scenario name from experiments/ or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ScenarioError(f"scenario file {candidate} does not exist")
        return candidate
    path = experiments_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in list_scenarios()) or "none"
        raise ScenarioError(f"unknown scenario {name_or_path!r}; shipped scenarios: {known}")
    return path


def apply_overrides(data: Any, overrides: list[str]) -> Any:
    """Apply --set a.b=value overrides (values parsed as YAML) to raw scenario data."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set {override!r}: expected key.path=value, e.g. analysis.interval=5s")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict):
                raise ScenarioError(f"--set {override!r}: {part!r} is not a section")
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ScenarioError(f"--set {override!r}: {parts[-2]!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def validate_scenario(doc: YamlDocument) -> ScenarioBase:
    """Validate parsed YAML against the schema; every problem is reported with file:line and field."""
    if not isinstance(doc.data, dict):
        raise ScenarioError(f"{doc.source}: a scenario must be a YAML mapping, got {type(doc.data).__name__}")
    try:
        scenario: ScenarioBase = _ADAPTER.validate_python(doc.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith(STRATEGY_TAG)))
            if error["type"] == "invalid_strategy":
                loc, message = ("strategy",), (f"unknown strategy {doc.data.get('strategy')!r}; "
                                               f"known: {', '.join(SCENARIO_MODELS)}")
            else:
                loc, shape_message = clean_location(loc, error["type"], doc.data)
                message = plain_message(error, shape_message)
            problems.append(f"  {doc.where(loc)}: {dotted(loc)}: {message}")
        raise ScenarioError(f"invalid scenario {doc.source}:\n" + "\n".join(problems)) from None
    _require_catalogued(scenario, doc)
    return scenario


def _require_catalogued(scenario: ScenarioBase, doc: YamlDocument) -> None:
    """Every version a scenario names must be in models/versions.yaml: nothing starts otherwise."""
    from rolloutlab.zoo.catalogue import load_catalogue

    known = load_catalogue().versions
    problems = [f"  {doc.where(loc)}: {dotted(loc)}: {name!r} is not in the model catalogue "
                f"(known: {', '.join(sorted(known))})"
                for loc, name in scenario.versions.named() if name not in known]
    if problems:
        raise ScenarioError(f"invalid scenario {doc.source}:\n" + "\n".join(problems))


def load_scenario(name_or_path: str, overrides: list[str] | None = None) -> ScenarioBase:
    """Find, parse, override and validate a scenario."""
    path = resolve_scenario(name_or_path)
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    if overrides:
        doc.data = apply_overrides(doc.data if isinstance(doc.data, dict) else {}, overrides)
    return validate_scenario(doc)
