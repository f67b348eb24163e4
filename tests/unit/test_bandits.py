from __future__ import annotations

import pytest

from rolloutlab.bandits.base import ArmEvidence, to_weights
from rolloutlab.bandits.epsilon_greedy import EpsilonGreedy
from rolloutlab.bandits.thompson import ThompsonSampling, probability_best
from rolloutlab.bandits.ucb import Ucb1, upper_bounds

CLEAR = {"v1": ArmEvidence(470, 500), "v2": ArmEvidence(495, 500), "bad": ArmEvidence(390, 500)}


@pytest.mark.parametrize(
    ("shares", "floor", "expected"),
    [({"a": 1, "b": 1}, 5, {"a": 50, "b": 50}), ({"a": 1, "b": 0, "c": 0}, 5, {"a": 90, "b": 5, "c": 5}),
     ({"a": 1, "b": 1, "c": 1}, 0, {"a": 34, "b": 33, "c": 33}), ({"a": 0, "b": 0}, 10, {"a": 50, "b": 50})],
)
def test_weights_are_integers_summing_to_100_above_the_floor(shares, floor, expected) -> None:
    assert to_weights(shares, floor) == expected


def test_a_floor_too_high_for_the_arms_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit 3 arms"):
        to_weights({"a": 1, "b": 1, "c": 1}, 40)


def test_thompson_gives_the_clearly_best_arm_almost_everything_but_the_floor() -> None:
    weights, best = ThompsonSampling().allocate(CLEAR, 5, seed=1)
    assert best["v2"] > 0.99 and weights == {"bad": 5, "v1": 5, "v2": 90}


def test_thompson_splits_evenly_when_nothing_is_known() -> None:
    none = {a: ArmEvidence(0, 0) for a in ("a", "b")}
    assert probability_best(none, seed=2)["a"] == pytest.approx(0.5, abs=0.02)


def test_probability_best_is_seeded() -> None:
    close = {"a": ArmEvidence(50, 100), "b": ArmEvidence(52, 100)}
    assert probability_best(close, seed=4) == probability_best(close, seed=4)


def test_epsilon_greedy_exploits_the_best_mean_and_spreads_epsilon() -> None:
    weights, _ = EpsilonGreedy(epsilon=0.3).allocate(CLEAR, 0, seed=1)
    assert weights == {"bad": 10, "v1": 10, "v2": 80}


def test_ucb_tries_an_untried_arm_first_then_the_highest_bound() -> None:
    untried = {**CLEAR, "new": ArmEvidence(0, 0)}
    assert Ucb1().allocate(untried, 5, seed=1)[0]["new"] == 85
    bounds = upper_bounds(CLEAR)
    assert max(bounds, key=bounds.get) == "v2" and Ucb1().allocate(CLEAR, 5, seed=1)[0]["v2"] == 90
