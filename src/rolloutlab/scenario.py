"""Experiment scenarios: the YAML schema, loading with file:line errors, and the shipped catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from rolloutlab.durations import parse_duration
from rolloutlab.errors import ScenarioError
from rolloutlab.load.schema import Load, SteadyLoad, clean_location
from rolloutlab.paths import project_root
from rolloutlab.yamlfile import YamlDocument, dotted, parse_yaml, plain_message

Seconds = Annotated[float, BeforeValidator(parse_duration)]
VersionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Versions(_Strict):
    baseline: VersionName
    candidate: VersionName

    @model_validator(mode="after")
    def _distinct(self) -> Versions:
        if self.baseline == self.candidate:
            raise ValueError(f"baseline and candidate are both {self.baseline!r}; a rollout needs two versions")
        return self


class Analysis(_Strict):
    """How each step is judged; the candidate is compared with the baseline over the same window."""

    interval: Seconds = 15.0
    min_requests: int = Field(50, ge=1)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_p95_ratio: float = Field(1.5, ge=1)
    p95_tolerance_ms: float = Field(10.0, ge=0)
    max_p95_ms: float | None = Field(None, gt=0)
    failure_limit: int = Field(1, ge=1)
    inconclusive_limit: int = Field(2, ge=1)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    strategy: Literal["canary"]
    versions: Versions
    steps: list[Annotated[int, Field(gt=0, le=100)]] = Field(min_length=1)
    analysis: Analysis = Analysis()
    load: Load = SteadyLoad()  # Locust traffic for the whole run: a shape of users × rate_per_user
    # What the scenario is meant to show; the CLI says whether the run matched, and the tests check
    # that every shipped scenario does.
    expect: Literal["promoted", "rolled back"] | None = None

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, steps: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
            raise ValueError(f"steps must increase strictly, got {steps}")
        return steps

    @property
    def expected_seconds(self) -> float:
        """Run time when every step passes first time: the baseline reference window, then each step."""
        return self.analysis.interval * (1 + len(self.steps))


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


def validate_scenario(doc: YamlDocument) -> Scenario:
    """Validate parsed YAML against the schema; every problem is reported with file:line and field."""
    if not isinstance(doc.data, dict):
        raise ScenarioError(f"{doc.source}: a scenario must be a YAML mapping, got {type(doc.data).__name__}")
    try:
        return Scenario.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc, shape_message = clean_location(tuple(error["loc"]), error["type"], doc.data)
            problems.append(f"  {doc.where(loc)}: {dotted(loc)}: {plain_message(error, shape_message)}")
        raise ScenarioError(f"invalid scenario {doc.source}:\n" + "\n".join(problems)) from None


def load_scenario(name_or_path: str, overrides: list[str] | None = None) -> Scenario:
    """Find, parse, override and validate a scenario."""
    path = resolve_scenario(name_or_path)
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    if overrides:
        doc.data = apply_overrides(doc.data if isinstance(doc.data, dict) else {}, overrides)
    return validate_scenario(doc)
