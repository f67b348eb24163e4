"""Benchmark: the strategy simulator's figures against the issue's targets (statistics, canary, bandits, speed).

Every figure comes from the real strategies and analysis code driven by the simulated world
(src/rolloutlab/sim); nothing here is timed against a threshold in a test. Prints each target, the
measured value with its 95 % interval, and pass or miss with the gap.

    .venv/bin/python bench/bench_simulator.py [--runs 2000] [--bandit-runs 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

from rolloutlab.scenario import load_scenario
from rolloutlab.sim.runner import RunResult, simulate_runs
from rolloutlab.sim.summary import Rate, rate, summarise
from rolloutlab.sim.world import Noise, World, world_for
from rolloutlab.strategies.factory import ab_sample_size, strategy_for

LINES: list[str] = []


def simulate(name: str, runs: int, seed: int, overrides: list[str] | None = None,
             rates: dict[str, float] | None = None, noise: Noise | None = None) -> tuple[object, World, list[RunResult], float]:
    scenario = load_scenario(name, overrides or [])
    world = world_for(scenario, rates, noise=noise)
    strategy = strategy_for(scenario, world.true_rates())
    started = time.perf_counter()
    results = simulate_runs(scenario, strategy, world, seed, runs)
    return scenario, world, results, time.perf_counter() - started


def verdict(value: float, low: float, high: float) -> str:
    if low <= value <= high:
        return "PASS"
    gap = value - high if value > high else low - value
    return f"MISS by {gap * 100:.1f} points" if high <= 1 else f"MISS by {gap:.3g}"


def report(target: str, measured: str, outcome: str) -> None:
    line = f"{target:<62} {measured:<44} {outcome}"
    LINES.append(line)
    print(line, flush=True)


def count(results: list[RunResult], test) -> Rate:  # noqa: ANN001
    return rate(sum(1 for r in results if test(r)), len(results))


def aa(runs: int, seed: int) -> None:
    alpha = 0.05
    _, _, fixed, seconds = simulate("ab-aa", runs, seed)
    fp = count(fixed, lambda r: r.outcome == "winner")
    report("A/A false positives, fixed horizon (ab-aa), alpha 0.05 ± 1 pt", str(fp),
           verdict(fp.value, alpha - 0.01, alpha + 0.01))
    # A sequential test only matters when there are many looks before the planned sample: a small MDE
    # (≈ 3,450 labels per arm, ≈ 12 looks of 5 s) gives its early stop every chance to inflate the rate.
    over = ["experiment.sequential=true", "experiment.mde=0.005", "analysis.interval=5s"]
    _, _, seq, _ = simulate("ab-aa", runs, seed + 1, over)
    fp_seq = count(seq, lambda r: r.outcome == "winner")
    early = count(seq, lambda r: "always-valid" in r.reason)
    early_fp = count(seq, lambda r: r.outcome == "winner" and "always-valid" in r.reason)
    report("A/A false positives, sequential mSPRT + final test, 0.05 ± 1 pt", str(fp_seq),
           verdict(fp_seq.value, alpha - 0.01, alpha + 0.01))
    report("  of which stopped early by the always-valid p-value", str(early_fp), f"(early stops {early})")
    _, _, same, _ = simulate("ab-aa", runs, seed + 1, [o.replace("true", "false") for o in over])
    fp_same = count(same, lambda r: r.outcome == "winner")
    report("  the same design without the sequential test", str(fp_same), "(same seed: the early stop's own share)")
    guard = count(seq, lambda r: r.outcome == "rolled back")
    report("  A/A stopped by a guardrail (p95/errors, every 5 s look)", str(guard), "(a false stop, not a winner)")
    LINES.append(f"  ({len(fixed)} fixed-horizon runs in {seconds:.1f}s)")
    aaaa(runs, seed + 2, alpha)


def aaaa(runs: int, seed: int, alpha: float) -> None:
    """A/A/A/A: ab-abn's design (three treatments, Bonferroni) over four arms with the same true rate."""
    rates = {v: 0.94 for v in ("v1", "v2", "v3", "degraded")}
    _, _, results, seconds = simulate("ab-abn", runs, seed, rates=rates)
    fwer = count(results, lambda r: r.outcome == "winner")
    # The family-wise rate must not exceed alpha; Bonferroni is conservative, so well below is expected.
    report(f"A/A/A/A family-wise false positives (ab-abn), ≤ alpha {alpha:g}", str(fwer),
           "PASS" if fwer.low <= alpha else verdict(fwer.value, 0.0, alpha))
    uncorrected = count(results, lambda r: r.outcome == "winner" or any(
        (c := (r.notes or {}).get("results", {}).get(t)) and c["p_value"] < alpha for t in ("v2", "v3", "degraded")))
    report("  the same runs judged at the uncorrected alpha (any p < 0.05)", str(uncorrected),
           "(what the fixed-horizon test did before the correction)")
    LINES.append(f"  ({len(results)} A/A/A/A runs in {seconds:.1f}s)")


def power(runs: int, seed: int) -> None:
    scenario = load_scenario("ab-accuracy")
    base = world_for(scenario).true_rates()["v1"]
    mde = scenario.experiment.mde  # type: ignore[attr-defined]
    needed, _ = ab_sample_size(scenario, {"v1": base})  # type: ignore[arg-type]
    rates = {"v2": base + mde}
    for label, over in (("10 s looks, as shipped", []), ("2 s looks (overshoot ≤ 60 labels)", ["analysis.interval=2s"])):
        _, _, results, _ = simulate("ab-accuracy", runs, seed + 2, over, rates)
        won = count(results, lambda r: r.outcome == "winner" and r.winner == "v2")
        labelled = sorted(min(a["labelled"] for a in r.notes["arms"].values()) for r in results if "arms" in r.notes)
        median = labelled[len(labelled) // 2] if labelled else float("nan")
        report(f"power at the MDE ({base:.3f} → {base + mde:.3f}, n = {needed}/arm), {label}", str(won),
               verdict(won.value, 0.77, 0.83))
        # What the design's own normal approximation promises at the samples the runs actually reached.
        promised = [_power(base, base + mde, r.notes["arms"]["v1"]["labelled"], r.notes["arms"]["v2"]["labelled"],
                           scenario.experiment.alpha) for r in results  # type: ignore[attr-defined]
                    if "arms" in r.notes and min(a["labelled"] for a in r.notes["arms"].values()) > 0]
        report("  power the normal approximation gives at the samples reached", f"{sum(promised) / len(promised):.1%}",
               "(what the design promises there)")
        stopped = count(results, lambda r: r.outcome == "rolled back")
        report(f"  labelled per arm at the decision (median); guardrail stops", f"{median:.0f} (design {needed})",
               f"guardrail stops {stopped}")


def _power(p1: float, p2: float, n1: float, n2: float, alpha: float) -> float:
    from scipy.stats import norm

    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return float(norm.cdf(abs(p2 - p1) / se - norm.ppf(1 - alpha / 2)))


def canary(runs: int, seed: int) -> None:
    fixed = ["analysis.mode=fixed"]  # the fixed-window figures; sequential_checks() compares both modes
    _, _, basic, seconds = simulate("canary-basic", runs, seed + 3, fixed)
    false_rb = count(basic, lambda r: r.outcome == "rolled back")
    report("canary-basic: false rollbacks ≤ 1 %", str(false_rb), verdict(false_rb.value, 0.0, 0.01))
    where: dict[str, int] = {}
    for r in basic:
        if r.outcome == "rolled back" and r.first_failure is not None:
            w = r.windows[r.first_failure]
            key = f"{w['percent']}% {'+'.join(w['failed'])}"
            where[key] = where.get(key, 0) + 1
        elif r.outcome == "rolled back":
            where["inconclusive"] = where.get("inconclusive", 0) + 1
    report("  where the false rollbacks happened", ", ".join(f"{k}: {v}" for k, v in sorted(where.items())), "")
    quiet = replace(Noise(), shared_window_sigma=0.0, own_window_sigma=0.0)
    _, _, calm, _ = simulate("canary-basic", runs, seed + 3, fixed, noise=quiet)
    calm_rb = count(calm, lambda r: r.outcome == "rolled back")
    report("  the same on a quiet machine (no window-to-window noise)", str(calm_rb), verdict(calm_rb.value, 0.0, 0.01))
    _, _, slow, _ = simulate("canary-slow", runs, seed + 4, fixed)
    caught = count(slow, lambda r: r.outcome == "rolled back" and r.first_failure == 0 and len(r.windows) == 1)
    report("canary-slow: rolled back at the first canary step ≥ 99 %", str(caught), verdict(caught.value, 0.99, 1.0))
    LINES.append(f"  ({len(basic)} canary-basic runs in {seconds:.1f}s)")


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] if values else math.nan


def _to_rollback(results: list[RunResult]) -> float:
    """Median seconds from the candidate's first request to the rollback decision (rolled-back runs)."""
    return _median([r.elapsed_s - r.first_candidate for r in results
                    if r.outcome == "rolled back" and r.first_candidate is not None])


def _side_by_side(target: str, fixed: float, sequential: float, unit: str, outcome: str) -> None:
    ratio = sequential / fixed if fixed else math.nan
    shown = (f"{fixed * 100:.1f} % → {sequential * 100:.1f} %" if unit == "%"
             else f"{fixed:.0f} s → {sequential:.0f} s")
    report(target, f"{shown} (ratio {ratio:.2f})", outcome)


def sequential_checks(runs: int, seed: int) -> None:
    """Issue 21: fixed windows against sequential looks, same world, load and seed for both modes."""
    modes = ("fixed", "sequential")
    LINES.append("sequential checks: fixed → sequential, same world, load and seed")
    for name in ("canary-slow", "canary-flaky", "canary-degraded", "canary-leaky", "canary-tail-latency",
                 "bluegreen-bad-release"):
        by_mode = {m: simulate(name, runs, seed + 20, [f"analysis.mode={m}"])[2] for m in modes}
        fixed_s, seq_s = (_to_rollback(by_mode[m]) for m in modes)
        fast = name in ("canary-slow", "canary-flaky", "canary-degraded", "bluegreen-bad-release")
        _side_by_side(f"{name}: first candidate request → rollback (median)" + (" ≤ 10 s" if fast else ""),
                      fixed_s, seq_s, "s", verdict(seq_s, 0, 10) if fast else "(as fast as the evidence allows)")
        if name.startswith("canary"):
            early = {m: count(by_mode[m], lambda r: r.outcome == "rolled back"
                              and all(w["percent"] < 50 for w in r.windows)).value for m in modes}
            report(f"  {name}: rolled back before 50 % ≥ 99 %", f"{early['fixed'] * 100:.1f} % → "
                   f"{early['sequential'] * 100:.1f} %", verdict(early["sequential"], 0.99, 1.0))
        else:
            caught = {m: count(by_mode[m], lambda r: r.outcome == "rolled back").value for m in modes}
            report(f"  {name}: rolled back ≥ 99 %", f"{caught['fixed'] * 100:.1f} % → "
                   f"{caught['sequential'] * 100:.1f} %", verdict(caught["sequential"], 0.99, 1.0))
    for name in ("canary-basic", "bluegreen-basic"):
        by_mode = {m: simulate(name, runs, seed + 21, [f"analysis.mode={m}"])[2] for m in modes}
        false_rb = {m: count(by_mode[m], lambda r: r.outcome == "rolled back") for m in modes}
        report(f"{name}: false rollbacks ≤ 1 %", f"{false_rb['fixed'].value * 100:.1f} % → {false_rb['sequential']}",
               verdict(false_rb["sequential"].value, 0.0, 0.01))
        promoted = {m: _median([r.elapsed_s for r in by_mode[m] if r.outcome == "promoted"]) for m in modes}
        target = " ≤ 45 s" if name == "canary-basic" else ""
        _side_by_side(f"  {name}: load start → promotion (median){target}", promoted["fixed"],
                      promoted["sequential"], "s",
                      verdict(promoted["sequential"], 0, 45) if target else "(blue-green waits out its watch)")


def bandits(runs: int, seed: int) -> None:
    for policy in ("thompson", "epsilon", "ucb"):
        scenario, world, results, seconds = simulate(f"bandit-{policy}", runs, seed + 5)
        b = summarise(scenario, world, results)["bandit"]  # type: ignore[arg-type]
        report(f"bandit-{policy}: regret ≤ 25 % of an equal split, at the stop", f"ratio median {b['ratio_at_stop'].p50:.3f} "
               f"(10-90 %: {b['ratio_at_stop'].p10:.2f}-{b['ratio_at_stop'].p90:.2f})", verdict(b["ratio_at_stop"].p50, 0, 0.25))
        report(f"bandit-{policy}: the same over the whole time budget", f"ratio of means {b['ratio_at_horizon']:.3f}",
               verdict(b["ratio_at_horizon"], 0, 0.25))
        LINES.append(f"  ({len(results)} bandit-{policy} runs in {seconds:.1f}s)")


def speed(seed: int) -> None:
    for mode in ("fixed", "sequential"):  # a sequential run looks every second: ≈ 4 × the rounds
        best = 0.0
        for i in range(3):
            _, _, results, seconds = simulate("canary-basic", 2000, seed + 10 + i, [f"analysis.mode={mode}"])
            best = max(best, len(results) / seconds)
        report(f"speed: ≥ 1,000 canary-basic runs per second on one core ({mode})",
               f"{best:,.0f} runs/s (best of 3 × 2,000)", "PASS" if best >= 1000 else f"MISS by {1000 - best:,.0f} runs/s")


def calibration(runs: int, seed: int) -> None:
    """Live runs' figures (journals kept in tests/fixtures/journals) against the simulated distribution."""
    from pathlib import Path

    from rolloutlab.sim.calibration import calibrate

    journals = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "journals"
    for name in ("canary-basic", "canary-basic-loaded", "ab-accuracy", "ab-aa", "bandit-thompson"):
        c = calibrate(journals / f"{name}.jsonl", runs=runs, seed=seed)
        report(f"calibration {name}: live outcome '{c.live_outcome}'", f"simulated {c.outcome_rate}",
               f"load {c.load_factor:.2f} of offered")
        for f in c.figures:
            report(f"  {f.name}", f"live {f.live:.4g}; sim median {f.simulated.p50:.4g} "
                   f"[{f.simulated.p10:.4g}, {f.simulated.p90:.4g}]", f"percentile {f.percentile:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--bandit-runs", type=int, default=300)
    parser.add_argument("--calibration-runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("sequential",), help="run only this group of targets")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{'target':<62} {'measured (95 % Wilson interval)':<44} result")
    if args.only == "sequential":
        sequential_checks(args.runs, args.seed)
        return
    aa(args.runs, args.seed)
    power(args.runs, args.seed)
    canary(args.runs, args.seed)
    sequential_checks(args.runs, args.seed)
    bandits(args.bandit_runs, args.seed)
    speed(args.seed)
    calibration(args.calibration_runs, args.seed)
    print(f"\nbench took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
