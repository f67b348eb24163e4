"""Strategy comparisons: several scenarios, the same versions and the same seeded load, run one after another
on one lab, then compared (decision, time to decision, blast radius, regret, duration).

A comparison is a small YAML file in experiments/comparisons/ (kept apart from the scenarios, which are
one strategy each), or an ad-hoc list of scenario names on the command line.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rolloutlab.errors import LabError, ScenarioError
from rolloutlab.paths import new_run_dir
from rolloutlab.scenario import experiments_dir, load_scenario
from rolloutlab.scenario.base import ScenarioBase
from rolloutlab.yamlfile import dotted, parse_yaml, plain_message


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    scenarios: list[str] = Field(min_length=2)  # shipped names or paths, run in this order
    # Versions known to be bad: the blast radius counts the requests and users they served.
    bad: list[str] = Field(default_factory=list)
    slo_ms: float = Field(50.0, gt=0)  # a user request answered slower than this violates the SLO
    overrides: list[str] = Field(default_factory=list)  # --set KEY=VALUE applied to every scenario


def comparisons_dir() -> Path:
    return experiments_dir() / "comparisons"


def list_comparisons() -> list[Path]:
    return sorted(comparisons_dir().glob("*.yaml"))


def resolve_comparison(name_or_path: str) -> Path | None:
    """A comparison file by shipped name or path; None when it names none (it may be a scenario)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        try:
            data = parse_yaml(candidate.read_text(encoding="utf-8"), str(candidate)).data
        except ValueError:
            return None
        return candidate if isinstance(data, dict) and "scenarios" in data else None
    shipped = comparisons_dir() / f"{name_or_path}.yaml"
    return shipped if shipped.is_file() else None


def load_comparison(path: Path, extra_overrides: list[str] | None = None,
                    time_scale: float = 1.0) -> tuple[Comparison, list[ScenarioBase]]:
    """Parse and validate a comparison file and every scenario it names, as they will run."""
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    try:
        comparison = Comparison.model_validate(doc.data)
    except ValidationError as exc:
        problems = [f"  {doc.where(tuple(e['loc']))}: {dotted(tuple(e['loc']))}: {plain_message(e)}" for e in exc.errors()]
        raise ScenarioError(f"invalid comparison {path}:\n" + "\n".join(problems)) from None
    scenarios = []
    for index, name in enumerate(comparison.scenarios):
        try:
            scenarios.append(_prepared(name, [*comparison.overrides, *(extra_overrides or [])], time_scale))
        except ScenarioError as exc:
            raise ScenarioError(f"{doc.where(('scenarios', index))}: scenarios[{index}] {name!r}: {exc}") from None
    check_comparable(comparison, scenarios, where=str(path))
    return comparison, scenarios


def adhoc_comparison(names: list[str], overrides: list[str], time_scale: float, bad: list[str],
                     slo_ms: float) -> tuple[Comparison, list[ScenarioBase]]:
    """A comparison of scenarios named on the command line."""
    scenarios = [_prepared(name, overrides, time_scale) for name in names]
    comparison = Comparison(name="compare-" + "-vs-".join(s.name for s in scenarios)[:80].rstrip("-"),
                            scenarios=names, bad=bad, slo_ms=slo_ms, overrides=overrides)
    check_comparable(comparison, scenarios, where="the command line")
    return comparison, scenarios


def _prepared(name: str, overrides: list[str], time_scale: float) -> ScenarioBase:
    scenario = load_scenario(name, overrides)
    if time_scale != 1.0:
        try:
            scenario = scenario.scaled(time_scale)
        except ValueError as exc:
            raise ScenarioError(f"{scenario.name} at --time-scale {time_scale:g}: {exc}") from None
    return scenario


def check_comparable(comparison: Comparison, scenarios: list[ScenarioBase], where: str) -> None:
    """Same versions and the same seeded load for every scenario: otherwise the comparison compares nothing."""
    first = scenarios[0]
    problems = []
    for s in scenarios[1:]:
        if set(s.versions.all) != set(first.versions.all):
            problems.append(f"{s.name} runs {', '.join(s.versions.all)} but {first.name} runs "
                            f"{', '.join(first.versions.all)}: a comparison needs the same versions")
        mine, theirs = s.load.model_dump(mode="json"), first.load.model_dump(mode="json")
        if mine != theirs:
            differ = ", ".join(f"load.{k} {mine.get(k)!r} vs {theirs.get(k)!r}"
                               for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k))
            problems.append(f"{s.name} and {first.name} differ in their load ({differ}): give them the same load "
                            "(in the scenarios, or with `overrides:` / --set load.KEY=VALUE)")
    unknown = [v for v in comparison.bad if v not in first.versions.all]
    if unknown:
        problems.append(f"bad: {', '.join(unknown)} is not a version of these scenarios ({', '.join(first.versions.all)})")
    if len({s.name for s in scenarios}) != len(scenarios):
        problems.append("a scenario appears twice")
    if problems:
        raise ScenarioError(f"invalid comparison ({where}):\n" + "\n".join(f"  {p}" for p in problems))


def new_comparison_dir(home: Path, name: str) -> Path:
    """comparisons/<timestamp>-<name>/ with a runs/ folder for the compared runs."""
    folder = new_run_dir(home, name, kind="comparisons")
    (folder / "runs").mkdir()
    return folder


def run_comparison(comparison: Comparison, scenarios: list[ScenarioBase], home: Path, *,
                   ready_timeout: float = 90.0, progress: Callable[[str], None] = lambda _: None,
                   run_one: Callable[[ScenarioBase, int], Any]) -> Path:
    """Bring one lab up with every version, run each scenario on it (run_one), stop the lab; return the folder.

    Each run directory is moved into the comparison's folder as it finishes, so the folder holds all it shows."""
    from rolloutlab.report.comparison import COMPARISON_FILE, build_comparison
    from rolloutlab.report.evidence import write_json
    from rolloutlab.targets.local import LocalTarget

    target = LocalTarget(home)
    versions = list(dict.fromkeys(v for s in scenarios for v in s.versions.all))
    running = target.running_state()
    if running is not None and [v for v in versions if v not in running.versions]:
        raise LabError(f"the running lab serves {', '.join(running.versions)} but {comparison.name} needs "
                       f"{', '.join(versions)}; run `rolloutlab down` first")
    folder = new_comparison_dir(home, comparison.name)
    runs: list[dict[str, str]] = []
    record = {"format": 1, "comparison": comparison.model_dump(mode="json"), "runs": runs,
              "scenarios": [s.model_dump(mode="json") for s in scenarios]}
    if running is None:
        target.up(versions, ready_timeout=ready_timeout, progress=progress)
    try:
        for index, scenario in enumerate(scenarios):
            progress(f"comparison {comparison.name}: {index + 1}/{len(scenarios)} {scenario.name}")
            report = run_one(scenario, index)
            moved = folder / "runs" / report.run_dir.name
            shutil.move(str(report.run_dir), moved)
            runs.append({"scenario": scenario.name, "dir": f"runs/{moved.name}"})
            write_json(folder / COMPARISON_FILE, record)  # after each run: an interrupted comparison keeps what ran
    finally:
        if running is None:
            progress("stopping the lab")
            target.down()
    write_json(folder / COMPARISON_FILE, record)
    build_comparison(folder)
    return folder


def describe(comparison: Comparison, scenarios: list[ScenarioBase]) -> str:
    bad = f"; bad: {', '.join(comparison.bad)}" if comparison.bad else ""
    return (f"{len(scenarios)} strategies ({', '.join(s.name for s in scenarios)}) on "
            f"{', '.join(scenarios[0].versions.all)}, same load (seed {scenarios[0].load.seed}){bad}; "
            f"SLO {comparison.slo_ms:g} ms")
