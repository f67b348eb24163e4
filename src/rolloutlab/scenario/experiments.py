"""Experiment scenarios that choose a model: A/B tests, multi-armed bandits, and shadow evaluation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from rolloutlab.analysis.checks import Check
from rolloutlab.scenario.base import Analysis, Arms, ScenarioBase, Seconds, Versions, _Strict


def guardrail_checks() -> list[Check]:
    """An experiment's guardrails: a variant that hurts users (errors, latency) stops the test. Model
    quality is what the experiment itself measures, so it is no guardrail here."""
    return [Check(metric="error_rate", max=0.02), Check(metric="p95_ms", max_ratio=2.0, tolerance=25)]


class Experiment(_Strict):
    """The A/B test's design: what effect it must be able to see, and how sure it must be."""

    mde: float = Field(0.03, gt=0, lt=1)  # minimum detectable effect, absolute, on the reward rate
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    baseline_rate: float | None = Field(None, gt=0, lt=1)  # default: the baseline's held-out accuracy
    sequential: bool = False  # an always-valid test (mSPRT) may stop early on a clear winner
    max_duration: Seconds = 300.0  # time budget: the test ends then, powered or not
    srm_threshold: float = Field(0.001, gt=0, lt=1)  # a sample-ratio-mismatch p-value below this invalidates it


class AbTestScenario(ScenarioBase):
    strategy: Literal["ab-test"]
    versions: Arms  # type: ignore[assignment]
    checks_by_default = staticmethod(guardrail_checks)
    split: dict[str, int] | None = None  # percent per version (sticky by user); default: equal
    experiment: Experiment = Experiment()
    scaled_fields: ClassVar[tuple[str, ...]] = ("experiment.max_duration",)

    @model_validator(mode="after")
    def _split_covers_the_arms(self) -> AbTestScenario:
        if self.split is None:
            return self
        arms = set(self.versions.all)
        if set(self.split) != arms:
            raise ValueError(f"split must give a share to exactly the versions {', '.join(sorted(arms))}; "
                             f"got {', '.join(sorted(self.split)) or 'none'}")
        if any(share <= 0 for share in self.split.values()) or sum(self.split.values()) != 100:
            raise ValueError(f"split shares must be positive and add up to 100, got {self.split} "
                             f"(sum {sum(self.split.values())})")
        return self

    @property
    def shares(self) -> dict[str, int]:
        if self.split is not None:
            return dict(self.split)
        arms = self.versions.all
        base = 100 // len(arms)
        return {a: base + (1 if i < 100 - base * len(arms) else 0) for i, a in enumerate(arms)}

    def describe(self) -> str:
        e = self.experiment
        split = ", ".join(f"{v} {w}%" for v, w in self.shares.items())
        test = "sequential (mSPRT)" if e.sequential else "fixed horizon"
        return (f"A/B test {split} (sticky by user); reward rate, MDE {e.mde:g}, alpha {e.alpha:g}, power {e.power:g}, "
                f"{test}, budget {e.max_duration:g}s")

    @property
    def expected_seconds(self) -> float:
        return self.experiment.max_duration



Policy = Literal["thompson", "epsilon-greedy", "ucb1"]


class BanditSettings(_Strict):
    policy: Policy = "thompson"
    epsilon: float = Field(0.1, ge=0, le=1)  # epsilon-greedy only
    floor: int = Field(5, ge=0, le=50)  # percent every arm keeps, so every arm keeps learning
    stop_probability: float = Field(0.95, gt=0.5, lt=1)  # stop once one arm is best with this probability ...
    stop_intervals: int = Field(3, ge=1)  # ... for this many intervals in a row
    max_duration: Seconds = 300.0  # time budget
    # Where traffic goes when the budget ends without a winner: the baseline (safe, as before) or the arm
    # the data favoured most (its P(best) is in the report either way).
    on_no_winner: Literal["baseline", "best"] = "baseline"


class BanditScenario(ScenarioBase):
    strategy: Literal["bandit"]
    versions: Arms  # type: ignore[assignment]
    checks_by_default = staticmethod(guardrail_checks)
    bandit: BanditSettings = BanditSettings()
    scaled_fields: ClassVar[tuple[str, ...]] = ("bandit.max_duration",)

    @model_validator(mode="after")
    def _floor_fits(self) -> BanditScenario:
        arms = len(self.versions.all)
        if self.bandit.floor * arms > 100:
            raise ValueError(f"bandit.floor {self.bandit.floor}% × {arms} arms is more than 100%")
        return self

    def describe(self) -> str:
        b = self.bandit
        return (f"{b.policy} bandit over {', '.join(self.versions.all)}: reweighted every {self.analysis.interval:g}s "
                f"from rewards (floor {b.floor}%), stop at P(best) ≥ {b.stop_probability:g} for {b.stop_intervals} "
                f"intervals or after {b.max_duration:g}s")

    @property
    def expected_seconds(self) -> float:
        return self.bandit.max_duration



class ShadowSettings(_Strict):
    percent: int = Field(100, ge=1, le=100)  # share of live requests copied to the candidate
    windows: int = Field(2, ge=1)  # analysis windows before deciding
    min_agreement: float = Field(0.95, ge=0, le=1)  # share of mirrored requests answered the same
    max_accuracy_drop: float = Field(0.03, ge=0, le=1)  # on mirrored requests whose labels arrived


class ShadowScenario(ScenarioBase):
    strategy: Literal["shadow"]
    versions: Versions
    checks_by_default = staticmethod(guardrail_checks)
    shadow: ShadowSettings = ShadowSettings()

    @field_validator("analysis")
    @classmethod
    def _no_accuracy_check(cls, analysis: Analysis) -> Analysis:
        if any(c.metric == "accuracy" for c in analysis.checks):
            raise ValueError("a shadow gets no feedback (users never see its answers): judge its accuracy with "
                             "shadow.max_accuracy_drop, from the joined prediction logs, not with an accuracy check")
        return analysis

    def describe(self) -> str:
        s = self.shadow
        return (f"shadow: {s.percent}% of {self.versions.baseline}'s requests mirrored to {self.candidate} (answers "
                f"dropped) for {s.windows} × {self.analysis.interval:g}s; agreement ≥ {s.min_agreement:.0%}")

    @property
    def expected_seconds(self) -> float:
        return self.analysis.interval * self.shadow.windows
