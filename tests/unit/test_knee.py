"""The knee of a latency curve, the highest sustainable step, and how a stress step is judged."""

from __future__ import annotations

import math

import pytest

from rolloutlab.errors import LoadError
from rolloutlab.load.client_metrics import VersionWindow, Window
from rolloutlab.load.knee import kneedle, last_passing_before_break
from rolloutlab.load.stress_plan import StressPlan, judge_step


def test_knee_is_where_a_flat_curve_starts_to_climb() -> None:
    offered = [50, 100, 150, 200, 250, 300, 350]
    p95 = [20, 21, 20, 22, 25, 80, 300]
    assert kneedle(offered, p95) == 4


def test_a_straight_line_or_a_flat_curve_has_no_knee() -> None:
    assert kneedle([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) is None
    assert kneedle([1, 2, 3], [5, 5, 5]) is None
    assert kneedle([1, 2], [5, 500]) is None


def test_knee_ignores_missing_points() -> None:
    assert kneedle([1, 2, 3, 4, 5], [10, math.nan, 10, 11, 100]) == 3


def test_highest_sustainable_is_the_last_pass_before_the_first_break() -> None:
    assert last_passing_before_break([True, True, False, True]) == 1
    assert last_passing_before_break([False, True]) is None
    assert last_passing_before_break([True, True, True]) == 2


def measured(requests: float, failures: float, rps: float, p95_ms: float, users: float) -> Window:
    total = VersionWindow(requests, failures, rps, p95_ms / 2, p95_ms)
    return Window(10, {"slow": total}, total, {}, {}, users, users, 40.0)


def test_a_step_within_the_slo_passes() -> None:
    step = judge_step(StressPlan(rate_per_user=5, max_p95_ms=100), 0, measured(500, 0, 49, 80, users=10))
    assert step.ok and step.offered_rps == 50 and step.breaches == ()


@pytest.mark.parametrize(("window", "breach"), [
    (measured(500, 0, 50, 130, users=10), "p95 130 ms > 100 ms"),
    (measured(500, 10, 50, 50, users=10), "error rate 2.00% > 1%"),
    (measured(500, 0, 30, 50, users=10), "throughput 30 of 50 req/s offered"),
])
def test_a_step_breaks_on_latency_errors_or_lost_throughput(window: Window, breach: str) -> None:
    step = judge_step(StressPlan(rate_per_user=5, max_p95_ms=100, max_error_rate=0.01), 3, window)
    assert not step.ok and step.breaches == (breach,) and step.index == 3


def test_a_step_with_too_few_requests_is_not_judged() -> None:
    step = judge_step(StressPlan(min_requests=20), 0, measured(5, 5, 0.5, 900, users=10))
    assert not step.judged and step.breaches == () and not step.ok


def test_plan_counts_its_steps_and_refuses_nonsense() -> None:
    plan = StressPlan(start_users=10, step_users=10, max_users=55, step_time=5)
    assert plan.steps == 6 and plan.seconds == 30 and plan.users_at(5) == 55
    with pytest.raises(LoadError, match="start_users"):
        StressPlan(start_users=10, max_users=5)
    with pytest.raises(LoadError, match="step_time"):
        StressPlan(step_time=3, settle=2)
    with pytest.raises(LoadError, match="SLO"):
        StressPlan(max_error_rate=0)
