"""Calibration against reality: where a live run's numbers fall in the simulated distribution of the same run.

A journal (runs/<id>/journal.jsonl) holds the scenario exactly as it ran (time scale and overrides
applied) and every window's numbers. The same scenario is simulated many times; for each figure the
live value's percentile among the simulated runs says whether the world model is plausible (a
percentile near 0 or 100 marks a figure the model gets wrong).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rolloutlab.errors import RolloutLabError
from rolloutlab.scenario import SCENARIO_MODELS, ScenarioBase
from rolloutlab.sim.runner import RunResult, simulate_runs
from rolloutlab.sim.summary import Rate, Spread, percentile_of, rate, spread
from rolloutlab.sim.world import world_for
from rolloutlab.strategies.factory import strategy_for


@dataclass(frozen=True)
class Figure:
    name: str
    live: float
    simulated: Spread
    percentile: float  # of the live value among the simulated runs, 0-100


@dataclass(frozen=True)
class Calibration:
    scenario: str
    live_outcome: str
    outcome_rate: Rate  # how often the simulation ends as the live run did
    figures: list[Figure]
    runs: int
    load_factor: float  # requests the live load delivered / requests offered, simulated alike


def read_journal(path: Path) -> tuple[ScenarioBase, list[dict[str, Any]]]:
    try:
        events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise RolloutLabError(f"cannot read journal {path}: {exc}") from None
    started = next((e for e in events if e.get("event") == "run_started"), None)
    if started is None:
        raise RolloutLabError(f"{path}: no run_started event (not a run journal)")
    model = SCENARIO_MODELS[started["strategy"]]
    return model.model_validate(started["scenario"]), events


def achieved_load(scenario: ScenarioBase, events: list[dict[str, Any]]) -> float:
    """Requests the live windows saw over what the load offered (users × rate): 1 on a machine that keeps up."""
    offered = scenario.load.users * scenario.load.rate_per_user
    shares = []
    for e in events:
        if e["event"] == "analysis" and e.get("window_s"):
            seen = (e.get("candidate") or {}).get("requests") or 0.0
            seen += (e.get("baseline") or {}).get("requests") or 0.0
            if e.get("baseline") or e.get("candidate_percent") == 100:
                shares.append(seen / (e["window_s"] * offered))
        elif e["event"] == "reference_recorded" and e.get("baseline"):
            shares.append(e["baseline"]["requests"] / (e["baseline"]["window_s"] * offered))
    tallies = [e for e in events if e["event"] == "tally"]
    if not shares and len(tallies) >= 2:
        first, last = tallies[0], tallies[-1]
        served = sum(t["requests"] for t in last["tallies"].values()) - sum(t["requests"] for t in first["tallies"].values())
        shares.append(served / ((last["ts"] - first["ts"]) * offered))
    if not shares:
        return 1.0
    return float(min(1.0, max(0.05, sorted(shares)[len(shares) // 2])))


def live_figures(scenario: ScenarioBase, events: list[dict[str, Any]]) -> tuple[str, dict[str, float], dict[str, float]]:
    """(outcome, figures, true rates from the journal if it names them)."""
    finished = next(e for e in events if e["event"] == "run_finished")
    decisions = [e for e in events if e["event"] == "decision"]
    final = decisions[-1]["notes"] if decisions else {}
    figures: dict[str, float] = {}
    rates: dict[str, float] = {}
    strategy = scenario.strategy_name
    if strategy == "canary":
        analyses = [e for e in events if e["event"] == "analysis"]
        figures["judged windows"] = len(analyses)
        if analyses:
            first = {c["name"]: c for c in analyses[0]["checks"]}
            if "p95_ms" in first and first["p95_ms"].get("reference"):
                figures["first step p95 ratio (candidate / baseline)"] = first["p95_ms"]["value"] / first["p95_ms"]["reference"]
            if "accuracy" in first and first["accuracy"].get("value") is not None:
                figures["first step candidate accuracy"] = first["accuracy"]["value"]
    elif strategy == "ab-test":
        figures["looks"] = sum(1 for e in events if e["event"] == "tally")
        for t, c in final.get("results", {}).items():
            figures[f"effect {t}"] = c["difference"]
        if final.get("arms"):
            figures["labelled per arm at the decision"] = min(a["labelled"] for a in final["arms"].values())
    elif strategy == "bandit":
        figures["rounds"] = final.get("round", math.nan)
        figures["regret at the stop"] = final.get("regret", math.nan)
        figures["equal-split regret at the stop"] = final.get("equal_split_regret", math.nan)
        if final.get("equal_split_regret"):
            figures["regret ratio at the stop"] = final["regret"] / final["equal_split_regret"]
        rates = {k: float(v) for k, v in final.get("oracle", {}).items()}
    return finished["outcome"], figures, rates


def simulated_figures(scenario: ScenarioBase, r: RunResult) -> dict[str, float]:
    """The same figures from one simulated run."""
    out: dict[str, float] = {}
    strategy = scenario.strategy_name
    if strategy == "canary":
        out["judged windows"] = len(r.windows)
        if r.windows:
            w = r.windows[0]
            ref = w["references"].get("p95_ms")
            if ref:
                out["first step p95 ratio (candidate / baseline)"] = w["values"]["p95_ms"] / ref
            if "accuracy" in w["values"]:
                out["first step candidate accuracy"] = w["values"]["accuracy"]
    elif strategy == "ab-test":
        out["looks"] = r.steps
        for t, c in r.notes.get("results", {}).items():
            out[f"effect {t}"] = c["difference"]
        if r.notes.get("arms"):
            out["labelled per arm at the decision"] = min(a["labelled"] for a in r.notes["arms"].values())
    elif strategy == "bandit" and r.curve:
        out["rounds"] = len(r.curve)
        out["regret at the stop"] = r.curve[-1][1]
        out["equal-split regret at the stop"] = r.curve[-1][2]
        if r.curve[-1][2] > 0:
            out["regret ratio at the stop"] = r.curve[-1][1] / r.curve[-1][2]
    return out


def calibrate(journal: Path, runs: int = 1000, seed: int = 0) -> Calibration:
    scenario, events = read_journal(journal)
    outcome, live, rates = live_figures(scenario, events)
    factor = achieved_load(scenario, events)
    world = world_for(scenario, rates, load_factor=factor)
    results = simulate_runs(scenario, strategy_for(scenario, world.true_rates()), world, seed, runs)
    per_run = [simulated_figures(scenario, r) for r in results]
    figures = []
    for name, value in live.items():
        values = [f[name] for f in per_run if name in f and f[name] is not None and not math.isnan(f[name])]
        figures.append(Figure(name, value, spread(values), percentile_of(value, values)))
    return Calibration(scenario.name, outcome, rate(sum(r.outcome == outcome for r in results), len(results)),
                       figures, len(results), factor)
