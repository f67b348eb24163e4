from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.errors import ScenarioError
from rolloutlab.scenario import list_scenarios, load_scenario

VALID = """\
name: t
strategy: canary
versions:
  baseline: v1
  candidate: v2
steps: [10, 50, 100]
analysis:
  interval: 5s
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return str(path)


def test_every_shipped_scenario_is_valid() -> None:
    names = [load_scenario(str(p)).name for p in list_scenarios()]
    assert "canary-basic" in names


def test_valid_scenario_parses_durations(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID))
    assert s.analysis.interval == 5.0
    assert s.steps == [10, 50, 100]


def test_not_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nsteps: [10, 50\nstrategy: canary\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:3:\d+: not valid YAML"):
        load_scenario(path)


def test_missing_field_names_field_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("steps: [10, 50, 100]\n", ""))
    with pytest.raises(ScenarioError, match=r"s\.yaml:1: steps: required field is missing"):
        load_scenario(path)


def test_wrong_value_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("interval: 5s", "interval: soon"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:8: analysis\.interval: expected a duration"):
        load_scenario(path)


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("interval: 5s", "intreval: 5s"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:8: analysis\.intreval: unknown field"):
        load_scenario(path)


def test_bad_list_item_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("[10, 50, 100]", "[10, 150]"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:6: steps\[1\]: Input should be less than or equal to 100"):
        load_scenario(path)


def test_steps_must_increase(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:6: steps: steps must increase strictly"):
        load_scenario(write(tmp_path, VALID.replace("[10, 50, 100]", "[50, 10]")))


def test_same_baseline_and_candidate_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="both 'v1'"):
        load_scenario(write(tmp_path, VALID.replace("candidate: v2", "candidate: v1")))


def test_unknown_strategy_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:2: strategy: unknown strategy 'yolo'; known: canary, blue-green"):
        load_scenario(write(tmp_path, VALID.replace("strategy: canary", "strategy: yolo")))


def test_unknown_scenario_name_lists_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'; shipped scenarios: .*canary-basic"):
        load_scenario("nope")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="must be a YAML mapping"):
        load_scenario(write(tmp_path, "- a\n- b\n"))


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID), ["analysis.interval=3s", "load.users=3"])
    assert (s.analysis.interval, s.load.users) == (3.0, 3)
    with pytest.raises(ScenarioError, match="load.users: Input should be greater than or equal to 1"):
        load_scenario(write(tmp_path, VALID), ["load.users=0"])
    with pytest.raises(ScenarioError, match="expected key.path=value"):
        load_scenario(write(tmp_path, VALID), ["load.users"])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("  checks:\n    - metric: latency\n      max: 5\n", r"s\.yaml:10: analysis\.checks\[0\]\.metric: Input should be 'error_rate'"),
        ("  checks:\n    - metric: accuracy\n      max: 0.9\n",
         r"s\.yaml:10: analysis\.checks\[0\]: max does not fit accuracy \(higher is better\): use min or max_drop"),
        ("  checks:\n    - metric: p95_ms\n      max_drop: 3\n",
         r"analysis\.checks\[0\]: max_drop does not fit p95_ms \(lower is better\): use max or max_ratio"),
        ("  checks:\n    - metric: p95_ms\n", r"analysis\.checks\[0\]: give exactly one threshold for p95_ms"),
        ("  checks:\n    - metric: error_rate\n      max: 0.01\n      tolerance: 3\n", r"tolerance only applies to max_ratio"),
        ("  checks:\n    - metric: error_rate\n      max: 0.01\n    - metric: error_rate\n      max: 0.02\n",
         r"analysis\.checks: .*error_rate appear twice"),
    ],
    ids=["unknown-metric", "threshold-wrong-direction", "relative-wrong-direction", "no-threshold",
         "tolerance-without-ratio", "duplicate-names"],
)
def test_bad_checks_are_named_with_file_line_and_field(tmp_path: Path, change: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=where):
        load_scenario(write(tmp_path, VALID + change))


def test_a_candidate_outside_the_catalogue_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:5: versions\.candidate: 'v9' is not in the model catalogue"):
        load_scenario(write(tmp_path, VALID.replace("candidate: v2", "candidate: v9")))


def test_a_window_shorter_than_two_scrapes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"analysis\.interval: Value error, 1s is shorter than 2s|analysis\.interval: 1s is shorter"):
        load_scenario(write(tmp_path, VALID), ["analysis.interval=1s"])
    blue_green = VALID.replace("strategy: canary", "strategy: blue-green").replace("steps: [10, 50, 100]\n", "watch: 1s\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:6: watch: 1s is shorter than 2s"):
        load_scenario(write(tmp_path, blue_green))


def test_labels_must_have_time_to_arrive_within_the_window(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"load: feedback_delay \(5s\) must be shorter than analysis.interval \(5s\)"):
        load_scenario(write(tmp_path, VALID), ["load.feedback_delay=5s"])


def test_a_canary_field_in_a_blue_green_scenario_is_an_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml:6: steps: unknown field"):
        load_scenario(write(tmp_path, VALID.replace("strategy: canary", "strategy: blue-green")))


def test_time_scale_shortens_every_window_and_keeps_minimum_samples(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID.replace("strategy: canary", "strategy: blue-green")
                            .replace("steps: [10, 50, 100]\n", "watch: 20s\n")), ["analysis.interval=10s"])
    fast = s.scaled(0.5)
    assert (fast.analysis.interval, fast.watch) == (5.0, 10.0)
    assert fast.analysis.min_requests == s.analysis.min_requests
    with pytest.raises(ValueError, match="shorter than 2s"):
        s.scaled(0.1)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: b\nstrategy: bandit\nversions:\n  baseline: v1\n  candidates: []\n",
         r"s\.yaml:5: versions\.candidates: name at least one candidate"),
        ("name: b\nstrategy: ab-test\nversions:\n  baseline: v1\n  candidates: [v2]\nsplit: {v1: 60, v2: 30}\n",
         r"split shares must be positive and add up to 100"),
        ("name: b\nstrategy: ab-test\nversions:\n  baseline: v1\n  candidates: [v2]\nexperiment:\n  alpha: 1.5\n",
         r"s\.yaml:7: experiment\.alpha: Input should be less than 1"),
        ("name: b\nstrategy: shadow\nversions:\n  baseline: v2\n  candidate: degraded\nshadow:\n  percent: 0\n",
         r"s\.yaml:7: shadow\.percent: Input should be greater than or equal to 1"),
        ("name: b\nstrategy: bandit\nversions:\n  baseline: v1\n  candidates: [v2, v3]\nbandit:\n  floor: 40\n",
         r"bandit\.floor 40% × 3 arms is more than 100%"),
    ],
    ids=["bandit-one-arm", "split-not-100", "alpha-outside-0-1", "shadow-share-0", "floor-too-high"],
)
def test_bad_experiment_settings_are_named(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=where):
        load_scenario(write(tmp_path, text))


def test_analysis_mode_is_fixed_or_sequential_and_errors_point_at_the_line(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID + "  mode: sequential\n  look: 1s\n"))
    assert (s.analysis.mode, s.analysis.look, load_scenario(write(tmp_path, VALID)).analysis.mode) == \
        ("sequential", 1.0, "fixed")
    with pytest.raises(ScenarioError, match=r"s\.yaml:9: analysis\.mode: "):
        load_scenario(write(tmp_path, VALID + "  mode: eventually\n"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:10: analysis\.look: "):
        load_scenario(write(tmp_path, VALID + "  mode: sequential\n  look: 500ms\n"))


def test_sequential_mode_is_refused_where_no_strategy_looks_continuously() -> None:
    with pytest.raises(ScenarioError, match=r"ab-aa.*sequential applies to canary and blue-green only"):
        load_scenario("ab-aa", ["analysis.mode=sequential"])
