"""What every scenario has: versions, analysis checks, load, expectation; and the shared field types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rolloutlab.analysis.checks import Check, default_checks
from rolloutlab.durations import parse_duration
from rolloutlab.scenario.gates import Gates
from rolloutlab.scenario.load import Load, SteadyLoad

Seconds = Annotated[float, BeforeValidator(parse_duration)]
VersionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
MIN_WINDOW_S = 2.0  # Prometheus scrapes each second: a shorter window holds too few points for rate()


def _two_scrapes(seconds: float) -> float:
    if seconds < MIN_WINDOW_S:
        raise ValueError(f"{seconds:g}s is shorter than {MIN_WINDOW_S:g}s: Prometheus scrapes each second and needs "
                         "at least two scrapes in a window")
    return seconds


Window = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_two_scrapes)]  # a judged window


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

    def named(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Each version with its field path, for errors."""
        return [(("versions", "baseline"), self.baseline), (("versions", "candidate"), self.candidate)]


class Arms(_Strict):
    """A baseline and one or more candidates (A/B/n variants, bandit arms)."""

    baseline: VersionName
    candidates: list[VersionName]

    @field_validator("candidates")
    @classmethod
    def _at_least_one(cls, candidates: list[str]) -> list[str]:
        if not candidates:
            raise ValueError("name at least one candidate: an experiment needs two versions or more (the baseline "
                             "and the candidates), and a bandit with one arm has nothing to choose")
        return candidates

    @model_validator(mode="after")
    def _distinct(self) -> Arms:
        names = self.all
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"every version may appear once; {', '.join(twice)} appears twice")
        return self

    @property
    def all(self) -> list[str]:
        return [self.baseline, *self.candidates]

    @property
    def candidate(self) -> str:
        return self.candidates[0]

    def named(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("versions", "baseline"), self.baseline),
                *((("versions", "candidates", i), name) for i, name in enumerate(self.candidates))]


class Analysis(_Strict):
    """How each window is judged: the scenario's checks, the same for every strategy."""

    interval: Window = 15.0
    min_requests: int = Field(50, ge=1)  # default minimum sample of request-based checks
    min_feedback: int = Field(50, ge=1)  # default minimum sample of feedback-based checks (accuracy)
    checks: list[Check] = Field(default_factory=default_checks, min_length=1)
    failure_limit: int = Field(1, ge=1)
    inconclusive_limit: int = Field(2, ge=1)
    # fixed: each step holds `interval`, then its window is judged once. sequential: the window since the
    # step began is judged at every `look` (each scrape), and a step ends as soon as its always-valid tests
    # are conclusive either way (analysis/sequential.py), with error probability ≤ `alpha` per test however
    # often it looks. A check not yet conclusive is judged by the fixed rule once it has its minimum sample
    # (min_requests / min_feedback / min_samples): that is the step's minimum exposure. It exists because
    # a healthy candidate cannot prove, at 10 % of 60 req/s, an error rate under 1 % in seconds (that takes
    # ≈ 650 requests), yet it must not pass on no data; and a leak or a warm-up shows only with time.
    # `interval` stays the baseline's reference window and, × inconclusive_limit, the longest a step waits
    # for conclusive evidence or its minimum exposure before rolling back (as in fixed mode).
    mode: Literal["fixed", "sequential"] = "fixed"
    look: Seconds = Field(1.0, ge=1.0)  # sequential: how often to judge (Prometheus scrapes each second)
    alpha: float = Field(0.01, gt=0, lt=0.5)  # sequential: error probability of each always-valid test

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
    # Pre-deploy gates, run against the candidate(s) alone before any user traffic moves; none by default.
    gates: Gates | None = None
    load: Load = SteadyLoad()  # Locust traffic for the whole run: a shape of users × rate_per_user
    # What the scenario is meant to show; the CLI says whether the run matched, and the tests check
    # that every shipped scenario does.
    expect: Expect | None = None

    # The checks a scenario of this strategy is judged on when its analysis names none.
    checks_by_default: ClassVar[Callable[[], list[Check]]] = staticmethod(default_checks)

    @model_validator(mode="before")
    @classmethod
    def _strategy_default_checks(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("analysis", {}), dict) \
                and "checks" not in data.get("analysis", {}):
            defaults = [c.model_dump(exclude_none=True, exclude_defaults=True) | {"metric": c.metric}
                        for c in cls.checks_by_default()]
            data = {**data, "analysis": {**data.get("analysis", {}), "checks": defaults}}
        return data

    # Strategies that judge a growing window at every look; the others decide per window (experiments
    # have their own sequential test: experiment.sequential).
    sequential_capable: ClassVar[bool] = False

    @field_validator("analysis")
    @classmethod
    def _mode_fits(cls, analysis: Analysis) -> Analysis:
        if analysis.mode == "sequential" and not cls.sequential_capable:
            raise ValueError("mode: sequential applies to canary and blue-green only (an A/B test's early stop is "
                             "experiment.sequential)")
        return analysis

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

    @property
    def strategy_name(self) -> str:
        return str(getattr(self, "strategy"))

    def scaled(self, factor: float) -> ScenarioBase:
        """The same scenario with every interval multiplied by factor (a rehearsal at a different pace).

        Minimum samples are kept: a window too short for them is Inconclusive, as in any run."""
        data = self.model_dump()
        for path in ("analysis.interval", *self.scaled_fields):
            *parents, leaf = path.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[leaf] = node[leaf] * factor
        return type(self).model_validate(data)

    scaled_fields: ClassVar[tuple[str, ...]] = ()  # durations besides analysis.interval, as dotted paths

    def describe(self) -> str:
        return f"{self.strategy} of {self.versions.candidate} over {self.versions.baseline}"  # type: ignore[attr-defined]

    @property
    def expected_seconds(self) -> float:
        raise NotImplementedError


