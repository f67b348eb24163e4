"""The one place that picks a Strategy for a scenario."""

from __future__ import annotations

from rolloutlab.scenario import BlueGreenScenario, CanaryScenario, ScenarioBase
from rolloutlab.strategies.base import Strategy
from rolloutlab.strategies.blue_green import BlueGreen
from rolloutlab.strategies.canary import Canary


def strategy_for(scenario: ScenarioBase) -> Strategy:
    a = scenario.analysis
    if isinstance(scenario, CanaryScenario):
        return Canary(scenario.versions.baseline, scenario.candidate, tuple(scenario.steps), a.interval,
                      a.failure_limit, a.inconclusive_limit)
    if isinstance(scenario, BlueGreenScenario):
        return BlueGreen(scenario.versions.baseline, scenario.candidate, a.interval, scenario.watch,
                         scenario.pre_switch_mirror, a.inconclusive_limit)
    raise TypeError(f"no strategy for {type(scenario).__name__}")
