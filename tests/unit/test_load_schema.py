"""The scenario's load section: shape choice and parameters, errors at file:line; CLI load options."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.errors import ScenarioError
from rolloutlab.load.options import build_load
from rolloutlab.scenario.load import RampLoad, SteadyLoad
from rolloutlab.scenario import load_scenario

BASE = """\
name: t
strategy: canary
versions:
  baseline: v1
  candidate: v2
steps: [10, 50, 100]
"""


def scenario(tmp_path: Path, load: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(BASE + load)
    return str(path)


def test_the_old_fields_still_mean_a_steady_load(tmp_path: Path) -> None:
    s = load_scenario(scenario(tmp_path, "load:\n  users: 7\n  rate_per_user: 3\n  seed: 5\n"))
    assert isinstance(s.load, SteadyLoad) and (s.load.users, s.load.rate_per_user, s.load.seed) == (7, 3, 5)
    assert s.load.feedback_delay == 2.0 and s.load.population == 1000
    assert isinstance(load_scenario(scenario(tmp_path, "")).load, SteadyLoad)


def test_a_shape_is_chosen_and_parameterised_in_the_file(tmp_path: Path) -> None:
    s = load_scenario(scenario(tmp_path, "load:\n  shape: ramp\n  users: 40\n  ramp_time: 2m\n  feedback_delay: off\n"),
                      ["analysis.checks=[{metric: error_rate, max: 0.01}]"])
    assert isinstance(s.load, RampLoad) and s.load.ramp_time == 120 and s.load.feedback_delay is None
    assert s.load.shape_params() == {"start_users": 1, "ramp_time": 120.0}


def test_the_shape_can_be_switched_with_set(tmp_path: Path) -> None:
    s = load_scenario(scenario(tmp_path, "load:\n  users: 10\n"), ["load.shape=wave", "load.period=30s"])
    assert s.load.shape_name == "wave" and s.load.shape_params() == {"min_users": 1, "period": 30.0}


def test_a_parameter_of_another_shape_is_an_unknown_field_on_its_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, "load:\n  shape: step\n  users: 10\n  ramp_time: 5s\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:10: load\.ramp_time: unknown field"):
        load_scenario(path)


def test_an_unknown_shape_points_at_the_shape_line_and_lists_the_known(tmp_path: Path) -> None:
    path = scenario(tmp_path, "load:\n  users: 10\n  shape: sawtooth\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:9: load\.shape: unknown shape 'sawtooth'; known: steady, ramp"):
        load_scenario(path)


def test_a_bad_shape_parameter_value_points_at_its_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, "load:\n  shape: spike\n  spike_at: later\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:9: load\.spike_at: expected a duration"):
        load_scenario(path)


def test_inconsistent_shape_parameters_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"load: spike_users \(5\) must exceed the base users \(10\)"):
        load_scenario(scenario(tmp_path, "load:\n  shape: spike\n  users: 10\n  spike_users: 5\n"))
    with pytest.raises(ScenarioError, match=r"load: min_users \(10\) must be below users \(10\)"):
        load_scenario(scenario(tmp_path, "load:\n  shape: wave\n  users: 10\n  min_users: 10\n"))


def test_load_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:7: load: expected a mapping"):
        load_scenario(scenario(tmp_path, "load: 5\n"))


def test_planned_time_is_the_duration_or_one_pass_of_the_shape() -> None:
    assert build_load(None, {"shape": "step"}, ["users=20", "step_users=5", "step_time=10s"]).planned_seconds() == 40
    assert build_load(None, {"shape": "ramp", "duration": 90.0}, []).planned_seconds() == 90
    assert build_load(None, {}, []).planned_seconds() == 60
    assert build_load(None, {"shape": "soak"}, []).planned_seconds() == 3600


def test_cli_options_override_a_scenario_load_and_drop_the_old_shape_parameters() -> None:
    base = build_load(None, {"shape": "ramp", "users": 30}, ["ramp_time=20s", "seed=4"])
    switched = build_load(base, {"shape": "wave", "users": None}, ["period=10s"])
    assert switched.shape_name == "wave" and switched.users == 30 and switched.seed == 4
    assert switched.shape_params() == {"min_users": 1, "period": 10.0}


def test_bad_cli_load_options_name_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"load\.ramp_time: expected a duration(.|\n)*load\.period: not a field of shape ramp"):
        build_load(None, {"shape": "ramp"}, ["ramp_time=soon", "period=3s"])
    with pytest.raises(ScenarioError, match="expected FIELD=VALUE"):
        build_load(None, {}, ["users"])
    with pytest.raises(ScenarioError, match=r"load\.users: Input should be greater than or equal to 1"):
        build_load(None, {"users": 0}, [])
