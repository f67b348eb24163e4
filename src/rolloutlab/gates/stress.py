"""Stress gate: a short Locust step load on the candidate alone (the `rolloutlab stress` machinery) up to min_rps."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from rolloutlab.gates.result import GateResult
from rolloutlab.scenario.gates import StressGate
from rolloutlab.load.stress import run_stress
from rolloutlab.load.stress_plan import StepResult, StressPlan

NAME = "stress"
SETTLE = 1.0  # seconds of each step not measured: steps are short, users connect within a second here


def plan_for(gate: StressGate) -> StressPlan:
    """At most gate.steps equal steps of users whose last offers min_rps (rounded up to whole users)."""
    users = max(1, math.ceil(gate.min_rps / gate.rate_per_user))
    per_step = math.ceil(users / gate.steps)
    return StressPlan(start_users=per_step, step_users=per_step, max_users=users, step_time=gate.step_time,
                      rate_per_user=gate.rate_per_user, max_p95_ms=gate.max_p95_ms,
                      max_error_rate=gate.max_error_rate, settle=SETTLE)


def judge(gate: StressGate, version: str, plan: StressPlan, steps: list[StepResult]) -> GateResult:
    """Pass when every planned step was measured and held the SLO; a step not measured is never a pass (pure)."""
    last = steps[-1] if steps else None
    numbers: dict[str, float | int | str | None] = {
        "candidate": version, "planned_steps": plan.steps, "measured_steps": sum(s.judged for s in steps),
        "min_rps": gate.min_rps, "max_p95_ms": gate.max_p95_ms,
        "last_offered_rps": round(last.offered_rps, 1) if last else None,
        "last_achieved_rps": round(last.achieved_rps, 1) if last else None,
        "last_p95_ms": round(last.p95_ms, 1) if last and not math.isnan(last.p95_ms) else None,
        "last_error_rate": round(last.error_rate, 4) if last and not math.isnan(last.error_rate) else None,
    }
    broken = next((s for s in steps if s.judged and s.breaches), None)
    if broken is not None:
        return GateResult(NAME, False, f"{version} broke the SLO at step {broken.index + 1} of {plan.steps} "
                                       f"({broken.users:.0f} users, {broken.offered_rps:.0f} req/s offered): "
                                       + "; ".join(broken.breaches), numbers)
    judged = [s for s in steps if s.judged]
    if len(judged) < plan.steps or last is None:
        return GateResult(NAME, False, f"only {len(judged)} of {plan.steps} steps had enough requests to judge "
                                       f"(no data is never a pass)", numbers)
    return GateResult(NAME, True, f"{version} held p95 ≤ {gate.max_p95_ms:g} ms and errors ≤ "
                                  f"{100 * gate.max_error_rate:g}% up to {last.offered_rps:.0f} req/s offered: "
                                  f"{last.achieved_rps:.1f} req/s served, p95 {last.p95_ms:.1f} ms, "
                                  f"errors {100 * last.error_rate:.2f}%", numbers)


def run(gate: StressGate, version: str, url: str, holdout: Path, run_dir: Path,
        progress: Callable[[str], None] = lambda _: None) -> GateResult:
    """Step the load on the candidate's own server (not the router: no user traffic moves yet)."""
    plan = plan_for(gate)
    progress(f"stress: {plan.steps} steps of {plan.step_time:g}s up to {plan.max_users} users × "
             f"{plan.rate_per_user:g} req/s on {version}")
    result = run_stress(plan, version=version, host=url, holdout=holdout, run_dir=run_dir,
                        on_step=lambda s: progress(f"stress step {s.index + 1}: {s.offered_rps:.0f} req/s offered → "
                                                   f"{s.achieved_rps:.1f} served, p95 {s.p95_ms:.1f} ms"))
    outcome = judge(gate, version, plan, result.steps)
    return GateResult(outcome.name, outcome.passed, outcome.summary, {**outcome.numbers, "run_dir": str(run_dir)})
