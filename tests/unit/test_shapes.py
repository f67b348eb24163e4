"""Each load shape's schedule: tick() over run time with a fake clock (no Locust, no gevent)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

from shapes import SHAPES, make_schedule, parameters  # noqa: E402

from rolloutlab.scenario.load import SHAPE_MODELS, validate_load  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def users_over_time(name: str, params: dict, times: list[float]) -> list[int | None]:
    clock = Clock()
    schedule = make_schedule(name, params, clock=clock)
    result = []
    for t in times:
        clock.now = 1000.0 + t
        tick = schedule.tick()
        result.append(None if tick is None else tick[0])
    return result


def test_steady_holds_its_users_until_the_duration_ends() -> None:
    assert users_over_time("steady", {"users": 8, "duration": 30}, [0, 1, 15, 29.9, 30, 31]) == [8, 8, 8, 8, None, None]


def test_steady_without_duration_never_stops() -> None:
    assert users_over_time("steady", {"users": 3}, [0, 10_000, 10**7]) == [3, 3, 3]


def test_ramp_rises_linearly_then_holds() -> None:
    users = users_over_time("ramp", {"users": 21, "start_users": 1, "ramp_time": 20}, [0, 5, 10, 15, 20, 40])
    assert users == [1, 6, 11, 16, 21, 21]


def test_ramp_spawn_rate_keeps_up_with_the_line() -> None:
    clock = Clock()
    ramp = make_schedule("ramp", {"users": 101, "start_users": 1, "ramp_time": 10}, clock=clock)
    assert ramp.tick()[1] >= 10  # 10 users per second on the line: Locust must spawn at least that fast


def test_step_adds_step_users_every_step_time_up_to_users() -> None:
    users = users_over_time("step", {"users": 12, "step_users": 5, "step_time": 10}, [0, 9.9, 10, 19, 20, 30, 99])
    assert users == [5, 5, 10, 10, 12, 12, 12]


def test_step_can_start_elsewhere_and_counts_its_steps() -> None:
    clock = Clock()
    step = make_schedule("step", {"users": 30, "step_users": 10, "step_time": 5, "start_users": 10}, clock=clock)
    assert step.steps() == 3 and step.natural_duration() == 15


def test_spike_jumps_up_for_spike_time_then_back() -> None:
    params = {"users": 4, "spike_users": 40, "spike_at": 10, "spike_time": 5, "duration": 25}
    users = users_over_time("spike", params, [0, 9.9, 10, 14.9, 15, 24, 25])
    assert users == [4, 4, 40, 40, 4, 4, None]


def test_spike_spawns_the_whole_spike_within_a_second() -> None:
    clock = Clock()
    clock.now += 10
    spike = make_schedule("spike", {"users": 4, "spike_users": 40, "spike_at": 0, "spike_time": 5}, clock=clock)
    clock.now += 1
    assert spike.tick() == (40, 40.0)


def test_soak_warms_up_then_holds_for_its_long_default() -> None:
    users = users_over_time("soak", {"users": 20, "warmup": 10}, [0, 5, 10, 1800, 3599, 3600])
    assert users[0] == 1 and 9 <= users[1] <= 11 and users[2:5] == [20, 20, 20] and users[5] is None


def test_wave_goes_from_trough_to_peak_and_back_each_period() -> None:
    users = users_over_time("wave", {"users": 21, "min_users": 1, "period": 100}, [0, 25, 50, 75, 100, 150])
    assert users == [1, 11, 21, 11, 1, 21]


def test_wave_is_smooth_no_jump_above_its_spawn_rate() -> None:
    clock = Clock()
    wave = make_schedule("wave", {"users": 50, "min_users": 0, "period": 60}, clock=clock)
    previous = wave.tick()[0]
    for _ in range(120):
        clock.now += 1
        users, rate = wave.tick()
        assert abs(users - previous) <= rate
        previous = users


def test_reset_time_restarts_the_schedule() -> None:
    clock = Clock()
    step = make_schedule("step", {"users": 20, "step_users": 5, "step_time": 10}, clock=clock)
    clock.now += 25
    assert step.tick()[0] == 15
    step.reset_time()
    assert step.tick()[0] == 5


@pytest.mark.parametrize(("name", "params", "message"), [
    ("ramp", {"users": 5, "start_users": 9}, "start_users must be between 0 and users"),
    ("step", {"users": 5, "step_users": 0}, "step_users must be at least 1"),
    ("spike", {"users": 50, "spike_users": 10}, "must exceed the base users"),
    ("soak", {"users": 5, "warmup": 100, "duration": 50}, "warmup .* must be shorter"),
    ("wave", {"users": 5, "min_users": 5}, "min_users must be between"),
    ("steady", {"users": 0}, "users must be at least 1"),
    ("steady", {"users": 5, "ramp_time": 3}, "shape steady takes users, duration; not ramp_time"),
])
def test_bad_parameters_are_refused_naming_them(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_schedule(name, params)


def test_unknown_shape_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown load shape 'square'; known: steady, ramp, step, spike, soak, wave"):
        make_schedule("square", {"users": 1})


def test_scenario_schema_and_locust_shapes_agree() -> None:
    """Same names, same parameters, same length of one pass, for every shape."""
    assert list(SHAPES) == list(SHAPE_MODELS)
    examples = {
        "steady": {}, "ramp": {"start_users": 2, "ramp_time": "45s"}, "step": {"step_users": 3, "step_time": "7s"},
        "spike": {"spike_users": 40, "spike_at": "20s", "spike_time": "5s"}, "soak": {"warmup": "30s", "duration": "10m"},
        "wave": {"min_users": 2, "period": "90s"},
    }
    for name, extra in examples.items():
        load = validate_load({"shape": name, "users": 20, **extra})
        assert set(load.shape_params()) <= set(parameters(name))
        schedule = make_schedule(name, {"users": load.users, "duration": load.duration, **load.shape_params()})
        natural = schedule.natural_duration()
        assert load.natural_seconds() == pytest.approx(natural if natural is not None else 60.0), name


def test_a_stop_request_ends_the_shape_at_the_next_tick() -> None:
    clock = Clock()
    steady = make_schedule("steady", {"users": 3}, clock=clock)
    assert steady.tick() == (3, 3.0)
    steady.request_stop()
    assert steady.tick() is None
