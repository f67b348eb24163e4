"""The one place that picks a Strategy for a scenario, and checks before anything starts that it can finish."""

from __future__ import annotations

import math

from rolloutlab.bandits.base import BanditPolicy
from rolloutlab.bandits.epsilon_greedy import EpsilonGreedy
from rolloutlab.bandits.thompson import ThompsonSampling
from rolloutlab.bandits.ucb import Ucb1
from rolloutlab.errors import ScenarioError
from rolloutlab.scenario import (AbTestScenario, BanditScenario, BlueGreenScenario, CanaryScenario, ScenarioBase,
                                 ShadowScenario)
from rolloutlab.stats.multiplicity import per_comparison_alpha
from rolloutlab.stats.power import sample_size_per_arm
from rolloutlab.stats.sequential import default_tau2
from rolloutlab.strategies.ab_test import AbTest
from rolloutlab.strategies.bandit import Bandit
from rolloutlab.strategies.base import Strategy
from rolloutlab.strategies.blue_green import BlueGreen
from rolloutlab.strategies.canary import Canary
from rolloutlab.strategies.shadow import Shadow


def _policy(scenario: BanditScenario) -> BanditPolicy:
    b = scenario.bandit
    if b.policy == "epsilon-greedy":
        return EpsilonGreedy(b.epsilon)
    return Ucb1() if b.policy == "ucb1" else ThompsonSampling()


def ab_sample_size(scenario: AbTestScenario, rates: dict[str, float]) -> tuple[int, float]:
    """Labelled requests per arm the design needs, and the baseline rate it assumed."""
    e = scenario.experiment
    rate = e.baseline_rate if e.baseline_rate is not None else rates.get(scenario.versions.baseline)
    if rate is None:
        raise ScenarioError(f"{scenario.name}: experiment.baseline_rate is not set and {scenario.versions.baseline} "
                            "has no held-out accuracy recorded (build it first: rolloutlab models build)")
    treatments = scenario.versions.candidates
    alpha = per_comparison_alpha(e.alpha, len(treatments))
    shares = scenario.shares
    control = shares[scenario.versions.baseline]
    # Sized for the split: each comparison's smaller arm needs what statsmodels gives for its share ratio
    # (the larger arm then gets its own, larger need at the same time); the test stops on the smallest arm.
    needed = 0
    for treatment in treatments:
        ratio = shares[treatment] / control
        n_control = sample_size_per_arm(rate, e.mde, alpha, e.power, ratio=ratio)
        needed = max(needed, math.ceil(min(n_control, ratio * n_control)))
    return needed, rate


def _per_comparison(scenario: AbTestScenario) -> str:
    k = len(scenario.versions.candidates)
    return "" if k == 1 else f", Bonferroni: {per_comparison_alpha(scenario.experiment.alpha, k):.3g} for each of {k} comparisons"


def check_feasible(scenario: ScenarioBase, rates: dict[str, float]) -> str | None:
    """A line saying what the design needs (or a ScenarioError when the load cannot deliver it in time)."""
    if not isinstance(scenario, AbTestScenario):
        return None
    needed, rate = ab_sample_size(scenario, rates)
    e, load = scenario.experiment, scenario.load
    offered = load.users * load.rate_per_user  # requests/s at full load
    smallest = min(scenario.shares.values()) / 100
    deliverable = offered * smallest * max(0.0, e.max_duration - (load.feedback_delay or 0.0))
    plan = (f"sample size: {needed} labelled requests per arm to detect {e.mde:g} on a rate of {rate:.3f} "
            f"(alpha {e.alpha:g}{_per_comparison(scenario)}, power {e.power:g}); the load offers ≈ {offered:g} req/s, so the smallest arm "
            f"({smallest:.0%}) gets ≈ {deliverable:.0f} labelled requests in the {e.max_duration:g}s budget")
    if deliverable < needed:
        raise ScenarioError(
            f"{scenario.name}: the MDE of {e.mde:g} needs {needed} labelled requests per arm, but the load can "
            f"deliver only ≈ {deliverable:.0f} to the smallest arm in experiment.max_duration ({e.max_duration:g}s "
            f"at {offered:g} req/s × {smallest:.0%}). Raise load.users or experiment.max_duration, or accept a "
            f"larger experiment.mde. Nothing was started.")
    return plan


def strategy_for(scenario: ScenarioBase, rates: dict[str, float] | None = None) -> Strategy:
    """`rates`: each version's true reward rate (held-out accuracy), for sample sizes and regret."""
    rates = rates or {}
    a = scenario.analysis
    look = a.look if a.mode == "sequential" else None
    if isinstance(scenario, CanaryScenario):
        return Canary(scenario.versions.baseline, scenario.candidate, tuple(scenario.steps), a.interval,
                      a.failure_limit, a.inconclusive_limit, look)
    if isinstance(scenario, BlueGreenScenario):
        return BlueGreen(scenario.versions.baseline, scenario.candidate, a.interval, scenario.watch,
                         scenario.pre_switch_mirror, a.inconclusive_limit, look)
    if isinstance(scenario, AbTestScenario):
        e = scenario.experiment
        needed, _rate = ab_sample_size(scenario, rates)
        return AbTest(scenario.versions.baseline, tuple(scenario.versions.candidates), scenario.shares, a.interval,
                      needed, e.alpha, e.max_duration, e.srm_threshold, e.sequential, default_tau2(e.mde),
                      a.failure_limit)
    if isinstance(scenario, BanditScenario):
        b = scenario.bandit
        missing = [v for v in scenario.versions.all if v not in rates]
        if missing:
            raise ScenarioError(f"{scenario.name}: no held-out accuracy recorded for {', '.join(missing)}: the "
                                "regret oracle needs it (build them first: rolloutlab models build)")
        return Bandit(scenario.versions.baseline, tuple(scenario.versions.all), _policy(scenario), a.interval, b.floor,
                      b.stop_probability, b.stop_intervals, b.max_duration, dict(rates), scenario.load.seed,
                      b.on_no_winner)
    if isinstance(scenario, ShadowScenario):
        s = scenario.shadow
        return Shadow(scenario.versions.baseline, scenario.candidate, s.percent, a.interval, s.windows,
                      s.min_agreement, s.max_accuracy_drop)
    raise TypeError(f"no strategy for {type(scenario).__name__}")
