"""Summary statistics of many simulated runs: outcome rates with 95 % intervals, distributions, regret curves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from rolloutlab.scenario import AbTestScenario, BanditScenario, ScenarioBase
from rolloutlab.sim.runner import RunResult
from rolloutlab.sim.world import World

BAND = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Rate:
    """k of n, with a 95 % Wilson score interval (statsmodels' proportion_confint)."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    def __str__(self) -> str:
        return f"{self.value:6.1%} [{self.low:.1%}, {self.high:.1%}] ({self.k}/{self.n})"


def rate(k: int, n: int, alpha: float = 0.05) -> Rate:
    if n <= 0:
        return Rate(k, n, math.nan, math.nan)
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return Rate(k, n, float(low), float(high))


@dataclass(frozen=True)
class Spread:
    """A distribution in a few numbers: mean, and the 10th, 50th and 90th percentiles."""

    mean: float
    p10: float
    p50: float
    p90: float
    n: int

    def __str__(self) -> str:
        return f"median {self.p50:.4g} (10-90 %: {self.p10:.4g}-{self.p90:.4g}), mean {self.mean:.4g}"


def spread(values: list[float] | np.ndarray) -> Spread:
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return Spread(math.nan, math.nan, math.nan, math.nan, 0)
    p10, p50, p90 = np.quantile(x, BAND)
    return Spread(float(x.mean()), float(p10), float(p50), float(p90), len(x))


def percentile_of(value: float, values: list[float] | np.ndarray) -> float:
    """Where `value` falls in `values`: the share below it plus half the share equal to it (mid-rank), in %."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0 or math.isnan(value):
        return math.nan
    return float(100 * ((x < value).sum() + 0.5 * (x == value).sum()) / len(x))


def outcome_rates(results: list[RunResult]) -> dict[str, Rate]:
    n = len(results)
    names = sorted({r.outcome for r in results})
    return {o: rate(sum(r.outcome == o for r in results), n) for o in names}


def regret_curves(results: list[RunResult], horizon_s: float, step_s: float, rps: float,
                  true_rates: dict[str, float], baseline: str) -> dict[str, Any]:
    """Cumulative regret over time for the bandit and for an equal split, median and 10-90 % band.

    After a bandit stops, traffic goes to its choice (the baseline when it found no winner) until the
    horizon, which adds regret only if that choice is not the best arm."""
    grid = np.arange(step_s, horizon_s + step_s / 2, step_s)
    best = max(true_rates.values())
    mean = sum(true_rates.values()) / len(true_rates)
    bandit = np.zeros((len(results), len(grid)))
    for i, r in enumerate(results):
        times = np.array([c[0] for c in r.curve] or [0.0])
        regrets = np.array([c[1] for c in r.curve] or [0.0])
        at = np.searchsorted(times, grid, side="right") - 1
        bandit[i] = np.where(at >= 0, regrets[np.maximum(at, 0)], 0.0)
        end = float(times[-1])
        chosen = r.winner if r.winner in true_rates else baseline
        after = np.clip(grid - end, 0, None) * rps * (best - true_rates[chosen])
        bandit[i] += after
    equal = grid * rps * (best - mean)
    return {"t": grid.tolist(), "bandit": {q: np.quantile(bandit, q, axis=0).tolist() for q in BAND},
            "equal_split": equal.tolist(), "final": bandit[:, -1].tolist()}


def summarise(scenario: ScenarioBase, world: World, results: list[RunResult]) -> dict[str, Any]:
    """Everything the CLI and the bench print, as data."""
    out: dict[str, Any] = {
        "runs": len(results),
        "outcomes": outcome_rates(results),
        "time_to_decision_s": spread([r.elapsed_s for r in results]),
        "steps": spread([r.steps for r in results]),
    }
    if world.bad():
        out["bad_versions"] = sorted(world.bad())
        out["bad_requests"] = spread([r.bad_requests for r in results])
        out["bad_users"] = spread([r.bad_users for r in results])
    winners: dict[str, int] = {}
    for r in results:
        if r.outcome == "winner" and r.winner:
            winners[r.winner] = winners.get(r.winner, 0) + 1
    if winners:
        out["winners"] = {v: rate(k, len(results)) for v, k in sorted(winners.items())}
    rolled = [r for r in results if r.outcome == "rolled back" and r.first_failure is not None]
    if rolled:
        where: dict[str, int] = {}
        for r in rolled:
            w = r.windows[r.first_failure]
            key = f"{w['percent']}%: {', '.join(w['failed'])}"
            where[key] = where.get(key, 0) + 1
        out["first_failure"] = {k: rate(v, len(results)) for k, v in sorted(where.items(), key=lambda kv: -kv[1])}
    if isinstance(scenario, AbTestScenario):
        out["ab"] = _ab(scenario, world, results)
    if isinstance(scenario, BanditScenario):
        b = scenario.bandit
        rps = scenario.load.users * scenario.load.rate_per_user
        curves = regret_curves(results, b.max_duration, scenario.analysis.interval, rps, world.true_rates(),
                               scenario.versions.baseline)
        own = [r.curve[-1][1] / r.curve[-1][2] for r in results if r.curve and r.curve[-1][2] > 0]
        out["bandit"] = {
            "regret_at_stop": spread([r.curve[-1][1] if r.curve else math.nan for r in results]),
            "equal_split_regret_at_stop": spread([r.curve[-1][2] if r.curve else math.nan for r in results]),
            "ratio_at_stop": spread(own),
            "regret_at_horizon": spread(curves["final"]),
            "equal_split_at_horizon": curves["equal_split"][-1],
            "ratio_at_horizon": float(np.mean(curves["final"]) / curves["equal_split"][-1])
            if curves["equal_split"][-1] > 0 else math.nan,
            "curves": curves,
        }
    return out


def _ab(scenario: AbTestScenario, world: World, results: list[RunResult]) -> dict[str, Any]:
    control = scenario.versions.baseline
    rates = world.true_rates()
    out: dict[str, Any] = {}
    for t in scenario.versions.candidates:
        truth = rates[t] - rates[control]
        found = [r.notes["results"][t] for r in results if "results" in r.notes and t in r.notes["results"]]
        diffs = [c["difference"] for c in found]
        covered = sum(1 for c in found if not math.isnan(c["ci_low"]) and c["ci_low"] <= truth <= c["ci_high"])
        significant = sum(1 for c in found if c["ci_low"] > 0 or c["ci_high"] < 0)
        out[t] = {"true_difference": truth, "estimate": spread(diffs),
                  "sd": float(np.std(diffs)) if diffs else math.nan, "bias": float(np.mean(diffs) - truth) if diffs else math.nan,
                  "ci_coverage": rate(covered, len(found)), "significant": rate(significant, len(results)),
                  "decided": len(found)}
    labelled = [min(a["labelled"] for a in r.notes["arms"].values()) for r in results if "arms" in r.notes]
    out["labelled_per_arm"] = spread(labelled)
    return out
