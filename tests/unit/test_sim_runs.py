"""Simulated runs: seeded, shaped like the live engine's observations, and statistically sane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rolloutlab.analysis.checks import Observed, assess
from rolloutlab.analysis.verdict import Verdict, VersionMetrics
from rolloutlab.cli import main
from rolloutlab.metrics.queries import METRICS, render_metric
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import load_scenario
from rolloutlab.sim.calibration import calibrate
from rolloutlab.sim.observe import observed
from rolloutlab.sim.runner import simulate_runs
from rolloutlab.sim.summary import rate
from rolloutlab.sim.timeline import Timelines
from rolloutlab.sim.world import world_for
from rolloutlab.strategies.factory import strategy_for

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"


def runs(name: str, n: int, seed: int, overrides: list[str] | None = None):
    scenario = load_scenario(name, overrides or [])
    world = world_for(scenario)
    return simulate_runs(scenario, strategy_for(scenario, world.true_rates()), world, seed, n, batch=64)


def test_the_same_seed_gives_the_same_runs_and_another_seed_other_runs() -> None:
    first, again, other = runs("canary-basic", 100, 7), runs("canary-basic", 100, 7), runs("canary-basic", 100, 8)
    # repr: a sequential look before any request has NaN values, and NaN != NaN
    key = lambda rs: [(r.outcome, r.elapsed_s, repr([w["values"] for w in r.windows])) for r in rs]  # noqa: E731
    assert key(first) == key(again)
    assert key(first) != key(other)


def test_a_simulated_window_is_the_observation_the_live_engine_builds() -> None:
    scenario = load_scenario("canary-basic")
    world = world_for(scenario)
    timelines = Timelines(world, np.random.default_rng(1), 100)
    span = timelines.serve([0], [RoutingState({"v1": 90, "v2": 10})], 15)[0]
    windows = timelines.window([0], [span], [{"v1", "v2"}])[0]
    checks = scenario.analysis.checks
    obs = observed("v2", 15.0, windows["v2"], checks)
    assert isinstance(obs, Observed) and isinstance(obs.metrics, VersionMetrics)
    assert set(obs.values) == {c.metric for c in checks} <= set(METRICS)
    assert obs.queries == {c.metric: render_metric(c.metric, "v2", 15.0) for c in checks}
    m = obs.metrics
    assert m.requests + timelines.req[0, :15, 0].sum() == 15 * 60  # every request of the window, one version each
    assert 0 < m.feedback < m.requests  # labels of the last 2 s arrive after the window
    assert m.p50_ms < m.p95_ms < m.p99_ms
    reference = observed("v1", 15.0, windows["v1"], checks)
    assessment = assess(checks, obs, reference, None, scenario.analysis.min_requests, scenario.analysis.min_feedback)
    assert {c.metric for c in assessment.checks} == {c.metric for c in checks}
    assert assessment.verdict in (Verdict.SUCCESSFUL, Verdict.FAILED)


def test_sticky_users_give_user_sums_consistent_with_the_counters() -> None:
    scenario = load_scenario("ab-aa")
    world = world_for(scenario)
    timelines = Timelines(world, np.random.default_rng(2), 100)
    state = RoutingState({"v2": 50, "v2-twin": 50}, sticky=True)
    timelines.serve([0], [state], 30)
    moments, exposed = timelines.user_moments(0)
    counters = timelines.counters(0)
    for version in ("v2", "v2-twin"):
        m = moments[version]
        assert m.sum_n == counters[version]["feedback"] and m.sum_y == counters[version]["reward"]
        assert 0 < m.users <= exposed[version] <= world.load.population
        assert m.sum_n2 > m.sum_n  # users made several requests, unequally many: the delta method has work to do
    assert sum(exposed.values()) <= world.load.population  # sticky: each user on one side


def test_a_slow_candidate_is_rolled_back_and_a_flaky_one_too() -> None:
    assert {r.outcome for r in runs("canary-slow", 50, 3)} == {"rolled back"}
    flaky = runs("canary-flaky", 50, 3)
    assert {r.outcome for r in flaky} == {"rolled back"}
    assert all("error_rate" in r.windows[r.first_failure]["failed"] for r in flaky)
    assert all(r.bad_requests > 0 for r in flaky)


def test_an_aa_test_finds_a_winner_about_alpha_of_the_time() -> None:
    results = runs("ab-aa", 300, 11)
    false_positives = rate(sum(r.outcome == "winner" for r in results), len(results))
    # alpha is 0.05: 300 runs put the rate within ≈ 1-10 % unless the test is grossly wrong
    assert 0.01 <= false_positives.value <= 0.10, false_positives


def test_a_clear_ab_difference_is_found_nearly_always() -> None:
    results = runs("ab-accuracy", 100, 12)
    assert sum(r.outcome == "winner" and r.winner == "v2" for r in results) >= 95


@pytest.mark.parametrize("journal, outcome", [("ab-accuracy", "winner"), ("bandit-thompson", "winner"), ("canary-basic", "promoted"),
                                              ("canary-basic-loaded", "rolled back")])
def test_calibration_places_each_live_figure_among_simulated_runs(journal: str, outcome: str) -> None:
    result = calibrate(JOURNALS / f"{journal}.jsonl", runs=100, seed=0)
    assert result.live_outcome == outcome and result.outcome_rate.k > 0  # the live outcome is possible in the model
    assert result.figures and all(0 <= f.percentile <= 100 for f in result.figures)


def test_simulate_prints_outcome_rates_and_rejects_a_bad_rate() -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["simulate", "ab-aa", "--runs", "40", "--seed", "1"])
    assert ok.exit_code == 0, ok.output
    assert "outcomes (95 % Wilson intervals)" in ok.output and "no winner" in ok.output
    bad = runner.invoke(main, ["simulate", "ab-aa", "--runs", "5", "--rate", "v2=1.5"])
    assert bad.exit_code == 2 and "--rate 'v2=1.5'" in bad.output
    unknown = runner.invoke(main, ["simulate", "nope"])
    assert unknown.exit_code == 2 and "unknown scenario 'nope'" in unknown.output


def test_a_bandit_over_a_flaky_copy_of_v2_picks_v2_because_failed_requests_earn_nothing() -> None:
    # flaky is v2's model answering 10 % of requests with 503: as accurate when it answers, worse for users.
    results = runs("bandit-thompson-v1-v2", 100, 21, ["versions.candidates=[v2, flaky]"])
    winners = [r.winner for r in results if r.outcome == "winner"]
    assert sum(w == "v2" for w in winners) >= 90, {w: winners.count(w) for w in set(winners)}
    assert "flaky" not in winners
