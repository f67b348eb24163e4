"""Experiment scenarios: the YAML schema, loading with file:line errors, and the shipped catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError,
                      ValidationInfo,
                      field_validator, model_validator)

from rolloutlab.analysis.checks import Check, default_checks

from rolloutlab.durations import parse_duration
from rolloutlab.errors import ScenarioError
from rolloutlab.load.schema import Load, SteadyLoad, clean_location
from rolloutlab.paths import project_root
from rolloutlab.yamlfile import YamlDocument, dotted, parse_yaml, plain_message

Seconds = Annotated[float, BeforeValidator(parse_duration)]
VersionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
STRATEGY_TAG = "strategy="  # prefix of the union tags pydantic puts into error locations (not YAML keys)
MIN_WINDOW_S = 2.0  # Prometheus scrapes each second: a shorter window holds too few points for rate()


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

    @property
    def all(self) -> list[str]:
        return [self.baseline, self.candidate]


class Analysis(_Strict):
    """How each window is judged: the scenario's checks, the same for every strategy."""

    interval: Seconds = 15.0
    min_requests: int = Field(50, ge=1)  # default minimum sample of request-based checks
    min_feedback: int = Field(50, ge=1)  # default minimum sample of feedback-based checks (accuracy)
    checks: list[Check] = Field(default_factory=default_checks, min_length=1)
    failure_limit: int = Field(1, ge=1)
    inconclusive_limit: int = Field(2, ge=1)

    @field_validator("interval")
    @classmethod
    def _window_long_enough(cls, interval: float) -> float:
        if interval < MIN_WINDOW_S:
            raise ValueError(f"{interval:g}s is shorter than {MIN_WINDOW_S:g}s: Prometheus scrapes each second "
                             "and needs at least two scrapes in a window")
        return interval

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[Check]) -> list[Check]:
        labels = [c.label for c in checks]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"check names must be unique; {', '.join(twice)} appear twice (give one a `name`)")
        return checks


Expect = Literal["promoted", "rolled back", "rejected", "winner", "no winner"]


class ScenarioBase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    versions: Versions
    analysis: Analysis = Analysis()
    load: Load = SteadyLoad()  # Locust traffic for the whole run: a shape of users × rate_per_user
    # What the scenario is meant to show; the CLI says whether the run matched, and the tests check
    # that every shipped scenario does.
    expect: Expect | None = None

    @field_validator("load")
    @classmethod
    def _labels_can_arrive(cls, load: Any, info: ValidationInfo) -> Any:
        analysis = info.data.get("analysis")
        if analysis is None or "accuracy" not in {c.metric for c in analysis.checks}:
            return load
        delay = load.feedback_delay
        if delay is None:
            raise ValueError("feedback_delay is off, but an accuracy check (analysis.checks) needs labels")
        if delay >= analysis.interval:
            raise ValueError(
                f"feedback_delay ({delay:g}s) must be shorter than analysis.interval ({analysis.interval:g}s): "
                "an accuracy check judges only labels that arrive within the window")
        return load

    @property
    def candidate(self) -> str:
        return self.versions.candidate

    def scaled(self, factor: float) -> ScenarioBase:
        """The same scenario with every interval multiplied by factor (a rehearsal at a different pace).

        Minimum samples are kept: a window too short for them is Inconclusive, as in any run."""
        data = self.model_dump()
        data["analysis"]["interval"] = self.analysis.interval * factor
        for key in self.scaled_fields:
            data[key] = getattr(self, key) * factor
        return type(self).model_validate(data)

    scaled_fields: ClassVar[tuple[str, ...]] = ()

    def describe(self) -> str:
        return f"{self.strategy} of {self.versions.candidate} over {self.versions.baseline}"  # type: ignore[attr-defined]

    @property
    def expected_seconds(self) -> float:
        raise NotImplementedError


class CanaryScenario(ScenarioBase):
    strategy: Literal["canary"]
    steps: list[Annotated[int, Field(gt=0, le=100)]] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, steps: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
            raise ValueError(f"steps must increase strictly, got {steps}")
        return steps

    def describe(self) -> str:
        return (f"canary of {self.candidate} over {self.versions.baseline}, steps "
                f"{' → '.join(f'{s}%' for s in self.steps)}, {self.analysis.interval:g}s per step")

    @property
    def expected_seconds(self) -> float:
        """Run time when every step passes first time: the baseline reference window, then each step."""
        return self.analysis.interval * (1 + len(self.steps))


class Smoke(_Strict):
    """Smoke tests of green through the router's preview route, before any user sees it."""

    requests: int = Field(64, ge=8, le=2000)  # held-out labelled rows, one per request
    min_accuracy: float = Field(0.9, ge=0, le=1)
    max_p95_ms: float = Field(250.0, gt=0)


class BlueGreenScenario(ScenarioBase):
    strategy: Literal["blue-green"]
    smoke: Smoke = Smoke()
    # Optional pre-switch analysis: this share of blue's requests is copied to green (answers dropped).
    pre_switch_mirror: int | None = Field(None, ge=1, le=100)
    watch: Seconds = 20.0  # after the switch: green judged against blue's numbers from before it
    scaled_fields: ClassVar[tuple[str, ...]] = ("watch",)

    @field_validator("watch")
    @classmethod
    def _watch_long_enough(cls, watch: float) -> float:
        if watch < MIN_WINDOW_S:
            raise ValueError(f"the watch window ({watch:g}s) is shorter than {MIN_WINDOW_S:g}s: Prometheus scrapes "
                             "each second and needs at least two scrapes in a window")
        return watch

    def describe(self) -> str:
        mirror = f", pre-switch mirror {self.pre_switch_mirror}%" if self.pre_switch_mirror else ""
        return (f"blue-green: {self.versions.baseline} (blue) → {self.candidate} (green), smoke tests{mirror}, "
                f"{self.watch:g}s watch window")

    @property
    def expected_seconds(self) -> float:
        mirror = self.analysis.interval if self.pre_switch_mirror else 0.0
        return self.analysis.interval + mirror + self.watch + 30.0  # + smoke tests and the switch


SCENARIO_MODELS: dict[str, type[ScenarioBase]] = {"canary": CanaryScenario, "blue-green": BlueGreenScenario}


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
    problems = [f"  {doc.where(('versions', role))}: versions.{role}: {name!r} is not in the model catalogue "
                f"(known: {', '.join(sorted(known))})"
                for role, name in scenario.versions.model_dump().items() if name not in known]
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
