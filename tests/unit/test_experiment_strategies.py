"""A/B, bandit and shadow strategies driven with canned observations (no I/O), table-driven where it fits."""

from __future__ import annotations

import numpy as np
import pytest

from rolloutlab.analysis.verdict import Assessment, Verdict
from rolloutlab.bandits.thompson import ThompsonSampling
from rolloutlab.stats.proportions import UserMoments
from rolloutlab.stats.sequential import always_valid_p
from rolloutlab.strategies.ab_test import AbTest
from rolloutlab.strategies.bandit import Bandit
from rolloutlab.strategies.base import Observation, Outcome, Record, Step, Tally
from rolloutlab.strategies.shadow import Shadow

OK = Assessment(Verdict.SUCCESSFUL, ("fine",))


def users(n_users: int, requests_each: int, rate: float, seed: int) -> UserMoments:
    rng = np.random.default_rng(seed)
    y = rng.binomial(requests_each, rate, n_users).astype(float)
    n = np.full(n_users, float(requests_each))
    return UserMoments(n_users, y.sum(), n.sum(), (y**2).sum(), (n**2).sum(), (y * n).sum())


def tally(m: UserMoments, exposed: float | None = None) -> Tally:
    return Tally(m.sum_n * 1.1, m.sum_n, m.sum_y, m, exposed if exposed is not None else m.users)


def ab(**kw) -> AbTest:
    base = dict(control="v1", treatments=("v2",), shares={"v1": 50, "v2": 50}, interval=10.0, needed_per_arm=700,
                alpha=0.05, max_duration=300.0)
    return AbTest(**{**base, **kw})


def look(strategy, step: Step, tallies: dict, elapsed: float, guards: dict | None = None) -> Step:
    obs = Observation(elapsed, None, None, guards if guards is not None else {"v2": OK}, tallies)
    return strategy.next((Record(step, obs),))


def test_ab_first_step_is_a_sticky_split_with_guardrails_and_tallies() -> None:
    first = ab().first()
    assert first.state.weights == {"v1": 50, "v2": 50} and first.state.sticky
    assert [g.version for g in first.guards] == ["v2"] and first.tally == ("v1", "v2")
    assert first.fallback.weights == {"v1": 100, "v2": 0}


@pytest.mark.parametrize(
    ("v1_rate", "v2_rate", "outcome", "serving"),
    [(0.94, 0.99, Outcome.WINNER, "v2"), (0.99, 0.94, Outcome.WINNER, "v1"), (0.97, 0.97, Outcome.NO_WINNER, "v1")],
    ids=["treatment-wins", "control-wins", "no-difference"],
)
def test_ab_decides_at_the_planned_sample_size(v1_rate, v2_rate, outcome, serving) -> None:
    strategy = ab()
    tallies = {"v1": tally(users(400, 2, v1_rate, 1)), "v2": tally(users(400, 2, v2_rate, 2))}
    final = look(strategy, strategy.first(), tallies, elapsed=60)
    assert final.outcome is outcome and final.state.weights[serving] == 100
    assert "results" in final.notes and final.notes["srm"]["checked"]


def test_ab_keeps_running_until_every_arm_has_its_sample() -> None:
    strategy = ab()
    tallies = {"v1": tally(users(100, 2, 0.94, 1)), "v2": tally(users(100, 2, 0.99, 2))}
    step = look(strategy, strategy.first(), tallies, elapsed=20)
    assert not step.final and step.state.sticky and "200/700" in step.reason


def test_ab_guardrail_stops_the_test_and_keeps_the_control() -> None:
    strategy = ab()
    bad = Assessment(Verdict.FAILED, ("p95 too high",))
    final = look(strategy, strategy.first(), {}, elapsed=20, guards={"v2": bad})
    assert final.outcome is Outcome.ROLLED_BACK and final.state.weights == {"v1": 100, "v2": 0}


def test_ab_sample_ratio_mismatch_invalidates_the_test() -> None:
    strategy = ab()
    tallies = {"v1": tally(users(400, 2, 0.94, 1), exposed=600), "v2": tally(users(400, 2, 0.99, 2), exposed=400)}
    final = look(strategy, strategy.first(), tallies, elapsed=60)
    assert final.outcome is Outcome.NO_WINNER and "sample ratio mismatch" in final.reason


def test_ab_budget_ends_an_underpowered_test_and_says_so() -> None:
    strategy = ab(max_duration=8.0)  # one 10 s look is past the budget
    tallies = {"v1": tally(users(50, 2, 0.95, 1)), "v2": tally(users(50, 2, 0.96, 2))}
    final = look(strategy, strategy.first(), tallies, elapsed=45)
    assert final.outcome is Outcome.NO_WINNER and "underpowered" in final.reason


def test_ab_sequential_test_stops_early_on_a_clear_winner() -> None:
    strategy = ab(sequential=True, needed_per_arm=5000)
    tallies = {"v1": tally(users(300, 2, 0.90, 1)), "v2": tally(users(300, 2, 0.99, 2))}
    final = look(strategy, strategy.first(), tallies, elapsed=30)
    assert final.outcome is Outcome.WINNER and "stopping early" in final.reason


@pytest.mark.parametrize("alpha", [0.05, 0.10, 0.01])
def test_ab_sequential_p_value_does_not_depend_on_the_alpha_of_the_interval(alpha: float) -> None:
    # The mSPRT needs the estimate's variance; it used to be read off the CI width as if alpha were 0.05,
    # which overstated the evidence (and the false-positive rate) whenever alpha was larger.
    control, treatment = users(400, 2, 0.90, 3), users(400, 2, 0.97, 4)
    tallies = {"v1": tally(control), "v2": tally(treatment)}
    step = look(ab(sequential=True, needed_per_arm=50_000, alpha=alpha), ab().first(), tallies, elapsed=10)
    expected = always_valid_p(1.0, treatment.rate - control.rate,
                              control.ratio_variance() + treatment.ratio_variance(), ab().tau2)
    assert 0 < expected < 1
    assert step.notes["sequential_p"]["v2"] == pytest.approx(expected, rel=1e-6)


def bandit(**kw) -> Bandit:
    base = dict(baseline="v1", arms=("v1", "v2", "bad"), policy=ThompsonSampling(), interval=10.0, floor=5,
                stop_probability=0.95, stop_intervals=2, max_duration=300.0,
                true_rates={"v1": 0.94, "v2": 0.99, "bad": 0.79})
    return Bandit(**{**base, **kw})


def rewards(requests: dict[str, float]) -> dict[str, Tally]:
    rates = {"v1": 0.94, "v2": 0.99, "bad": 0.79}
    return {a: Tally(n, n, round(n * rates[a]), None, 0) for a, n in requests.items()}


def test_bandit_starts_even_and_moves_traffic_to_the_best_arm_then_stops() -> None:
    strategy = bandit()
    step = strategy.first()
    assert step.state.weights == {"bad": 33, "v1": 33, "v2": 34} or sum(step.state.weights.values()) == 100
    history: tuple[Record, ...] = ()
    counts = {"v1": 0.0, "v2": 0.0, "bad": 0.0}
    for elapsed in (10, 20, 30, 40):
        for arm, weight in step.state.weights.items():
            counts[arm] += 10 * weight  # requests served this interval, in proportion to the weights
        history += (Record(step, Observation(elapsed, tallies=rewards(counts))),)
        step = strategy.next(history)
        if step.final:
            break
    assert step.outcome is Outcome.WINNER and step.state.weights["v2"] == 100
    assert step.notes["regret"] < step.notes["equal_split_regret"]


def test_bandit_regret_counts_requests_served_by_worse_arms_against_the_oracle() -> None:
    strategy = bandit()
    first = strategy.first()
    step = strategy.next((Record(first, Observation(10, tallies=rewards({"v1": 100, "v2": 100, "bad": 100}))),))
    assert step.notes["regret"] == pytest.approx(100 * (0.99 - 0.94) + 100 * (0.99 - 0.79))
    assert step.notes["equal_split_regret"] == pytest.approx(300 * (0.99 - (0.94 + 0.99 + 0.79) / 3))


def test_bandit_budget_without_a_sure_winner_goes_back_to_the_baseline() -> None:
    strategy = bandit(max_duration=10.0)
    first = strategy.first()
    even = {a: Tally(20, 20, 18, None, 0) for a in ("v1", "v2", "bad")}
    final = strategy.next((Record(first, Observation(25, tallies=even)),))
    assert final.outcome is Outcome.NO_WINNER and final.state.weights["v1"] == 100


def shadow() -> Shadow:
    return Shadow("v2", "degraded", 100, 10.0, 2, 0.95, 0.03)


@pytest.mark.parametrize(
    ("agreement", "verdict", "outcome"),
    [({"matched": 900, "agreement": 0.99, "accuracy_gap": 0.0}, Verdict.SUCCESSFUL, Outcome.PASSED),
     ({"matched": 900, "agreement": 0.78, "accuracy_gap": 0.21}, Verdict.SUCCESSFUL, Outcome.REJECTED),
     ({"matched": 900, "agreement": 0.99, "accuracy_gap": 0.10}, Verdict.SUCCESSFUL, Outcome.REJECTED),
     ({"matched": 0, "agreement": None}, Verdict.SUCCESSFUL, Outcome.REJECTED),
     ({"matched": 900, "agreement": 0.99, "accuracy_gap": 0.0}, Verdict.INCONCLUSIVE, Outcome.REJECTED)],
    ids=["agrees", "disagrees", "less-accurate", "nothing-matched", "checks-inconclusive"],
)
def test_shadow_decides_after_its_windows(agreement, verdict, outcome) -> None:
    strategy = shadow()
    first = strategy.first()
    assert first.state.weights == {"v2": 100, "degraded": 0} and first.state.mirror.percent == 100
    history = (Record(first, Observation(10, Assessment(verdict, ("x",)), agreement=agreement)),)
    second = strategy.next(history)
    assert not second.final and second.compare == ("v2", "degraded")
    history += (Record(second, Observation(20, Assessment(verdict, ("x",)), agreement=agreement)),)
    final = strategy.next(history)
    assert final.outcome is outcome and final.state.weights == {"v2": 100, "degraded": 0} and final.state.mirror is None


def test_shadow_failing_checks_on_mirrored_traffic_stop_it_at_once() -> None:
    strategy = shadow()
    first = strategy.first()
    final = strategy.next((Record(first, Observation(10, Assessment(Verdict.FAILED, ("p95",)), agreement={})),))
    assert final.outcome is Outcome.REJECTED


def test_ab_guardrail_with_a_limit_of_two_forgives_one_noisy_look() -> None:
    strategy = ab(failure_limit=2)
    bad = Assessment(Verdict.FAILED, ("p95 spike",))
    tallies = {"v1": tally(users(100, 2, 0.94, 1)), "v2": tally(users(100, 2, 0.99, 2))}
    first = strategy.first()
    second = look(strategy, first, tallies, elapsed=20, guards={"v2": bad})
    assert not second.final
    history = (Record(first, Observation(20, None, None, {"v2": bad}, tallies)),
               Record(second, Observation(30, None, None, {"v2": bad}, tallies)))
    assert strategy.next(history).outcome is Outcome.ROLLED_BACK


def test_bandit_counts_failed_requests_as_lost_reward_and_picks_v2_over_a_flaky_copy() -> None:
    # flaky answers as accurately as v2 but fails 10 % of its requests with 503: those users got nothing.
    rates = {"v1": 0.94, "v2": 0.99, "flaky": 0.99}
    strategy = bandit(arms=("v1", "v2", "flaky"), true_rates=rates, stop_intervals=3)
    step = strategy.first()
    history: tuple[Record, ...] = ()
    counts = {a: 0.0 for a in rates}
    for elapsed in range(10, 310, 10):
        for arm, weight in step.state.weights.items():
            counts[arm] += 10 * weight
        failed = {a: (round(0.10 * n) if a == "flaky" else 0) for a, n in counts.items()}
        tallies = {a: Tally(n, n - failed[a], round((n - failed[a]) * rates[a]), None, 0, failed[a])
                   for a, n in counts.items()}
        history += (Record(step, Observation(elapsed, tallies=tallies)),)
        step = strategy.next(history)
        if step.final:
            break
    assert step.outcome is Outcome.WINNER and step.state.weights["v2"] == 100, step.reason


def test_bandit_regret_counts_each_failed_request_as_the_reward_it_lost() -> None:
    rates = {"v1": 0.94, "v2": 0.99, "flaky": 0.99}
    strategy = bandit(arms=("v1", "v2", "flaky"), true_rates=rates)
    first = strategy.first()
    tallies = {"v1": Tally(100, 100, 94, None, 0), "v2": Tally(100, 100, 99, None, 0),
               "flaky": Tally(100, 90, 89, None, 0, 10)}
    step = strategy.next((Record(first, Observation(10, tallies=tallies)),))
    assert step.notes["failed"] == {"v1": 0, "v2": 0, "flaky": 10}
    assert step.notes["regret"] == pytest.approx(100 * (0.99 - 0.94) + 10 * 0.99)
    assert step.notes["rates"]["flaky"] == pytest.approx(89 / 100)  # 10 failures are 10 trials with reward 0


@pytest.mark.parametrize(("on_no_winner", "traffic_on"), [("baseline", "v1"), ("best", "v2")])
def test_bandit_without_a_winner_says_what_the_data_showed_and_goes_where_the_scenario_says(
        on_no_winner: str, traffic_on: str) -> None:
    strategy = bandit(max_duration=10.0, on_no_winner=on_no_winner)
    first = strategy.first()
    close = {"v1": Tally(20, 20, 18, None, 0), "v2": Tally(20, 20, 19, None, 0), "bad": Tally(20, 20, 17, None, 0)}
    final = strategy.next((Record(first, Observation(25, tallies=close)),))
    assert final.outcome is Outcome.NO_WINNER and final.state.weights[traffic_on] == 100
    assert "the data showed v2 best with P(best)" in final.reason and f"traffic on {traffic_on}" in final.reason
