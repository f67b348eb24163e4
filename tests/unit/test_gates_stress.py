"""The stress gate: the short step plan it asks for, and its judgement of the measured steps."""

from __future__ import annotations

import pytest

from rolloutlab.scenario.gates import StressGate
from rolloutlab.gates.stress import judge, plan_for
from rolloutlab.load.stress_plan import StepResult

GATE = StressGate(enabled=True, min_rps=50, steps=3, step_time=5, rate_per_user=5, max_p95_ms=300)


def step(index: int, users: float, achieved: float, p95: float, failures: float = 0,
         breaches: tuple[str, ...] = (), judged: bool = True) -> StepResult:
    requests = achieved * 4
    return StepResult(index, users, users * 5, achieved, requests, failures, p95 / 2, p95, 40.0, 4.0, breaches, judged)


@pytest.mark.parametrize(("gate", "users"), [
    (GATE, [4, 8, 10]),
    (GATE.model_copy(update={"min_rps": 52}), [4, 8, 11]),  # rounded up: at least min_rps is offered
    (GATE.model_copy(update={"steps": 1, "min_rps": 30}), [6]),
    (GATE.model_copy(update={"min_rps": 2}), [1]),
])
def test_the_plan_steps_up_to_min_rps_in_at_most_the_given_steps(gate: StressGate, users: list[int]) -> None:
    plan = plan_for(gate)
    assert [plan.users_at(i) for i in range(plan.steps)] == users
    assert plan.max_users * plan.rate_per_user >= gate.min_rps
    assert plan.step_time == gate.step_time and plan.max_p95_ms == gate.max_p95_ms


def test_every_step_holding_the_slo_passes() -> None:
    plan = plan_for(GATE)
    result = judge(GATE, "v2", plan, [step(0, 4, 19.9, 13.8), step(1, 8, 39.8, 13.4), step(2, 10, 49.8, 24.5)])
    assert result.passed
    assert result.summary == ("v2 held p95 ≤ 300 ms and errors ≤ 1% up to 50 req/s offered: 49.8 req/s served, "
                              "p95 24.5 ms, errors 0.00%")
    assert result.numbers["measured_steps"] == 3 and result.numbers["last_achieved_rps"] == 49.8


def test_a_broken_step_fails_naming_the_step_and_the_breach() -> None:
    plan = plan_for(GATE)
    result = judge(GATE, "slow", plan, [step(0, 4, 19.9, 180.0),
                                         step(1, 8, 30.1, 412.0, breaches=("p95 412 ms > 300 ms",))])
    assert not result.passed
    assert result.summary == "slow broke the SLO at step 2 of 3 (8 users, 40 req/s offered): p95 412 ms > 300 ms"


@pytest.mark.parametrize("steps", [
    [],
    [step(0, 4, 19.9, 13.8), step(1, 8, 39.8, 13.4)],
    [step(0, 4, 19.9, 13.8), step(1, 8, 39.8, 13.4), step(2, 10, 2.0, 13.0, judged=False)],
])
def test_steps_not_measured_are_never_a_pass(steps: list[StepResult]) -> None:
    result = judge(GATE, "v2", plan_for(GATE), steps)
    assert not result.passed
    assert "steps had enough requests to judge" in result.summary
