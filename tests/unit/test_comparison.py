"""Comparison files: the shipped ones are valid; a comparison of unlike runs is refused, saying where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.comparison import list_comparisons, load_comparison, resolve_comparison
from rolloutlab.errors import ScenarioError
from rolloutlab.scenario import list_scenarios


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cmp.yaml"
    path.write_text(text)
    return path


def test_shipped_comparisons_run_the_same_versions_under_the_same_load() -> None:
    names = {p.stem for p in list_comparisons()}
    assert {"compare-bad-release", "compare-model-choice"} <= names
    for path in list_comparisons():
        comparison, scenarios = load_comparison(path, ["load.users=25"], 0.4)
        assert len({frozenset(s.versions.all) for s in scenarios}) == 1
        assert len({s.load.model_dump_json() for s in scenarios}) == 1 and scenarios[0].load.users == 25
    assert not any(p.parent.name == "comparisons" for p in list_scenarios())  # never run as a scenario


def test_bad_release_names_slow_and_three_strategies() -> None:
    comparison, scenarios = load_comparison(resolve_comparison("compare-bad-release"))  # type: ignore[arg-type]
    assert comparison.bad == ["slow"] and [s.strategy_name for s in scenarios] == ["canary", "blue-green", "shadow"]


def test_different_versions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="canary-flaky runs v1, flaky but canary-slow runs v1, slow"):
        load_comparison(write(tmp_path, "name: x\nscenarios: [canary-slow, canary-flaky]\n"))


def test_a_different_load_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nscenarios: [canary-slow, bluegreen-bad-release]\n")
    load_comparison(path)  # the same load as shipped
    scenario = tmp_path / "canary-slow-seed7.yaml"
    text = (Path(__file__).resolve().parents[2] / "experiments" / "canary-slow.yaml").read_text()
    scenario.write_text(text.replace("seed: 42", "seed: 7").replace("name: canary-slow", "name: canary-slow-seed7"))
    with pytest.raises(ScenarioError, match=r"bluegreen-bad-release and canary-slow-seed7 differ in their load \(load.seed 42 vs 7\)"):
        load_comparison(write(tmp_path, f"name: x\nscenarios: [{scenario}, bluegreen-bad-release]\n"))


def test_schema_errors_point_at_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nscenarios: [canary-slow, nosuch]\nslo: 3\n")
    with pytest.raises(ScenarioError, match=r"cmp.yaml:3: slo: unknown field"):
        load_comparison(path)
    path = write(tmp_path, "name: x\nscenarios:\n  - canary-slow\n  - nosuch\n")
    with pytest.raises(ScenarioError, match=r"cmp.yaml:4: scenarios\[1\] 'nosuch': unknown scenario"):
        load_comparison(path)
    path = write(tmp_path, "name: x\nscenarios: [canary-slow, bluegreen-bad-release]\nbad: [v9]\n")
    with pytest.raises(ScenarioError, match="bad: v9 is not a version of these scenarios"):
        load_comparison(path)
