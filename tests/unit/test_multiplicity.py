"""A/B/n: one Bonferroni level for every comparison (decision, interval, sample size), sized for the split."""

from __future__ import annotations

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from rolloutlab.scenario import load_scenario
from rolloutlab.stats.multiplicity import confidence_label, per_comparison_alpha
from rolloutlab.stats.proportions import UserMoments
from rolloutlab.strategies.ab_test import AbTest
from rolloutlab.strategies.base import Observation, Outcome, Record, Tally
from rolloutlab.strategies.factory import ab_sample_size


def test_bonferroni_splits_alpha_over_the_comparisons_and_labels_the_interval() -> None:
    assert per_comparison_alpha(0.05, 1) == 0.05 and per_comparison_alpha(0.05, 3) == pytest.approx(0.05 / 3)
    assert confidence_label(0.05) == "95% CI" and confidence_label(0.025) == "97.5% CI"
    assert confidence_label(0.05 / 3) == "98.33% CI"
    with pytest.raises(ValueError, match="at least 1"):
        per_comparison_alpha(0.05, 0)


def users(n_users: int, rate: float) -> UserMoments:
    """Sums over users who each made one request (y_i in {0, 1}): y² = y, n² = n, y·n = y."""
    y = round(n_users * rate)
    return UserMoments(n_users, y, n_users, y, n_users, y)


def decide(treatments: tuple[str, ...]) -> object:
    # The treatment "t1" is better by an amount significant at 0.05 but not at 0.05 / 3 (p ≈ 0.03).
    test = AbTest("c", treatments, {a: 100 // (len(treatments) + 1) for a in ("c", *treatments)}, 10.0, 100,
                  0.05, 300.0)
    arms = {"c": users(2000, 0.90), **{t: users(2000, 0.90) for t in treatments}}
    arms["t1"] = users(2000, 0.919)
    tallies = {a: Tally(m.sum_n, m.sum_n, m.sum_y, m, m.users) for a, m in arms.items()}
    return test.next((Record(test.first(), Observation(20, tallies=tallies)),))


def test_a_difference_significant_only_uncorrected_wins_alone_but_not_among_three_treatments() -> None:
    alone, among_three = decide(("t1",)), decide(("t1", "t2", "t3"))
    p = alone.notes["results"]["t1"]["p_value"]
    assert 0.05 / 3 < p < 0.05, p
    assert alone.outcome is Outcome.WINNER and "95% CI" in alone.reason
    assert among_three.outcome is Outcome.NO_WINNER and "98.33% CI" in among_three.reason


def test_sample_size_is_per_comparison_and_for_the_split() -> None:
    scenario = load_scenario("ab-accuracy", ["split={v1: 80, v2: 20}"])
    needed, rate = ab_sample_size(scenario, {"v1": 0.94})
    e = scenario.experiment
    effect = abs(proportion_effectsize(rate + e.mde, rate))
    n_control = NormalIndPower().solve_power(effect_size=effect, alpha=e.alpha, power=e.power, ratio=0.25)
    assert needed == pytest.approx(0.25 * n_control, abs=1)  # the 20 % arm's own need; v1 gets 4 × as many
    equal, _ = ab_sample_size(load_scenario("ab-accuracy"), {"v1": 0.94})
    assert needed != equal
    three, _ = ab_sample_size(load_scenario("ab-abn"), {"v1": 0.94})
    n_each = NormalIndPower().solve_power(effect_size=abs(proportion_effectsize(0.94 + 0.04, 0.94)),
                                          alpha=0.05 / 3, power=0.8, ratio=1.0)
    assert three == pytest.approx(n_each, abs=1)
