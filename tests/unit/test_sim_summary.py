"""Summary statistics of simulated runs, on samples small enough to check by hand."""

from __future__ import annotations

import math

import pytest

from rolloutlab.sim.runner import RunResult
from rolloutlab.sim.summary import outcome_rates, percentile_of, rate, regret_curves, spread


def test_rate_has_a_wilson_interval() -> None:
    r = rate(5, 100)
    assert r.value == 0.05
    # Wilson score interval for 5/100 at 95 % (statsmodels): [0.0215, 0.1118]
    assert r.low == pytest.approx(0.02154, abs=1e-4) and r.high == pytest.approx(0.11175, abs=1e-4)
    zero = rate(0, 20)
    assert zero.low == 0.0 and 0.15 < zero.high < 0.17
    assert math.isnan(rate(0, 0).value)


def test_spread_gives_mean_and_percentiles_ignoring_nan() -> None:
    s = spread([1, 2, 3, 4, 5, float("nan")])
    assert (s.mean, s.p50, s.n) == (3.0, 3.0, 5)
    assert s.p10 == pytest.approx(1.4) and s.p90 == pytest.approx(4.6)
    assert spread([]).n == 0


def test_percentile_of_uses_mid_ranks() -> None:
    assert percentile_of(3, [1, 2, 3, 4]) == 62.5  # 2 below, 1 equal
    assert percentile_of(0, [1, 2]) == 0.0 and percentile_of(9, [1, 2]) == 100.0
    assert math.isnan(percentile_of(1, []))


def test_outcome_rates_count_each_outcome() -> None:
    results = [RunResult("promoted")] * 3 + [RunResult("rolled back")]
    rates = outcome_rates(results)
    assert rates["promoted"].k == 3 and rates["rolled back"].value == 0.25


def test_regret_curve_carries_the_choice_after_the_stop() -> None:
    rates = {"a": 0.9, "b": 0.8}
    stopped_on_best = RunResult("winner", winner="a", curve=[(10.0, 5.0, 5.0, 100.0)])
    stopped_on_worse = RunResult("winner", winner="b", curve=[(10.0, 5.0, 5.0, 100.0)])
    c = regret_curves([stopped_on_best, stopped_on_worse], horizon_s=30, step_s=10, rps=10, true_rates=rates,
                      baseline="a")
    assert c["t"] == [10.0, 20.0, 30.0]
    # after the stop: the best arm adds nothing; the worse one 10 req/s × 0.1 = 1 per second
    assert c["final"] == pytest.approx([5.0, 25.0])
    assert c["equal_split"] == pytest.approx([5.0, 10.0, 15.0])  # 10 req/s × (0.9 − 0.85)
