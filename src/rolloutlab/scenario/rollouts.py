"""Rollout scenarios: canary and blue-green (one candidate replaces the baseline)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from rolloutlab.scenario.base import ScenarioBase, Window, _Strict

class CanaryScenario(ScenarioBase):
    strategy: Literal["canary"]
    sequential_capable: ClassVar[bool] = True
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
    sequential_capable: ClassVar[bool] = True
    smoke: Smoke = Smoke()
    # Optional pre-switch analysis: this share of blue's requests is copied to green (answers dropped).
    pre_switch_mirror: int | None = Field(None, ge=1, le=100)
    watch: Window = 20.0  # after the switch: green judged against blue's numbers from before it
    scaled_fields: ClassVar[tuple[str, ...]] = ("watch",)

    def describe(self) -> str:
        mirror = f", pre-switch mirror {self.pre_switch_mirror}%" if self.pre_switch_mirror else ""
        return (f"blue-green: {self.versions.baseline} (blue) → {self.candidate} (green), smoke tests{mirror}, "
                f"{self.watch:g}s watch window")

    @property
    def expected_seconds(self) -> float:
        mirror = self.analysis.interval if self.pre_switch_mirror else 0.0
        return self.analysis.interval + mirror + self.watch + 30.0  # + smoke tests and the switch


