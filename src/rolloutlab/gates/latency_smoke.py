"""Latency smoke gate: single-row requests to baseline and candidate, interleaved, p50/p95 compared."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from rolloutlab.gates.client import Answer, post
from rolloutlab.gates.holdout import Holdout
from rolloutlab.gates.result import GateResult
from rolloutlab.scenario.gates import LatencySmokeGate

NAME = "latency_smoke"
WARMUP = 5  # unmeasured requests per version first: a fresh worker's first answers include lazy set-up
MIN_ANSWERED = 20  # fewer 200s than this: a p95 means nothing, and no data is never a pass


@dataclass(frozen=True)
class Latencies:
    """One version's smoke requests: how many, how many failed (and how), and the p50/p95 of the answered."""

    version: str
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    error_statuses: str = ""  # e.g. "503×21"; status 0 is "no answer in time"

    @property
    def answered(self) -> int:
        return self.requests - self.errors

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def summarize(version: str, answers: list[Answer]) -> Latencies:
    """Percentiles over the 200 answers; every other status (or none) is an error (pure)."""
    ok = [a.ms for a in answers if a.status == 200]
    failed = Counter(a.status for a in answers if a.status != 200)
    statuses = ", ".join(f"{status or 'timeout'}×{n}" for status, n in sorted(failed.items()))
    p50 = float(np.percentile(ok, 50)) if ok else None
    p95 = float(np.percentile(ok, 95)) if ok else None
    return Latencies(version, len(answers), len(answers) - len(ok), p50, p95, statuses)


def judge(gate: LatencySmokeGate, baseline: Latencies, candidate: Latencies) -> GateResult:
    """Candidate errors within max_error_rate, p95 within the absolute bound and the baseline-relative one (pure)."""
    numbers: dict[str, float | int | str | None] = {
        "baseline": baseline.version, "candidate": candidate.version, "requests_each": candidate.requests,
        "concurrency": gate.concurrency,
        "baseline_p50_ms": _r(baseline.p50_ms), "baseline_p95_ms": _r(baseline.p95_ms),
        "candidate_p50_ms": _r(candidate.p50_ms), "candidate_p95_ms": _r(candidate.p95_ms),
        "baseline_errors": baseline.errors, "candidate_errors": candidate.errors,
        "candidate_error_statuses": candidate.error_statuses or None, "allowed_p95_ms": None,
    }
    failures = []
    if candidate.error_rate > gate.max_error_rate:
        failures.append(f"{candidate.errors} of {candidate.requests} requests failed ({candidate.error_statuses}): "
                        f"error rate {100 * candidate.error_rate:.1f}% > {100 * gate.max_error_rate:g}%")
    for role, measured in (("candidate", candidate), ("baseline", baseline)):
        if measured.answered < MIN_ANSWERED or measured.p95_ms is None:
            failures.append(f"{role} {measured.version} answered only {measured.answered} of {measured.requests}: "
                            f"too few to measure latency")
    if failures and (candidate.p95_ms is None or baseline.p95_ms is None):
        return GateResult(NAME, False, "; ".join(failures), numbers)
    assert candidate.p95_ms is not None and baseline.p95_ms is not None and candidate.p50_ms is not None
    allowed = max(baseline.p95_ms * gate.max_p95_ratio, baseline.p95_ms + gate.tolerance_ms)
    numbers["allowed_p95_ms"] = _r(allowed)
    if gate.max_p95_ms is not None and candidate.p95_ms > gate.max_p95_ms:
        failures.append(f"p95 {candidate.p95_ms:.1f} ms > {gate.max_p95_ms:g} ms")
    if candidate.p95_ms > allowed:
        failures.append(f"p95 {candidate.p95_ms:.1f} ms > {allowed:.1f} ms allowed (baseline {baseline.version} "
                        f"{baseline.p95_ms:.1f} ms × {gate.max_p95_ratio:g}, or + {gate.tolerance_ms:g} ms)")
    measured = (f"p50 {candidate.p50_ms:.1f} ms vs {baseline.version} {baseline.p50_ms:.1f} ms, "
                f"p95 {candidate.p95_ms:.1f} ms vs {baseline.p95_ms:.1f} ms")
    if failures:
        return GateResult(NAME, False, "; ".join(failures) + f" [{measured}]", numbers)
    summary = (f"{measured} (allowed {allowed:.1f} ms); {candidate.errors} of {candidate.requests} failed "
               f"at concurrency {gate.concurrency}")
    return GateResult(NAME, True, summary, numbers)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def measure(gate: LatencySmokeGate, baseline: str, candidate: str, urls: dict[str, str], holdout: Holdout,
            warmup: int = WARMUP) -> tuple[list[Answer], list[Answer]]:
    """gate.requests single-row POSTs per version, alternating in one pool so both share the machine's load."""
    bodies = [json.dumps({"instances": [row]}).encode() for row in holdout.features]

    def one(index: int, version: str) -> Answer:
        return post(version, urls[version].rstrip("/") + "/predict", bodies[index % len(bodies)])

    for version in (baseline, candidate):
        for index in range(warmup):
            one(index, version)
    plan = [baseline, candidate] * gate.requests
    with ThreadPoolExecutor(gate.concurrency, thread_name_prefix="latency-smoke") as pool:
        answers = list(pool.map(one, range(len(plan)), plan))
    by_version: dict[str, list[Answer]] = {baseline: [], candidate: []}
    for version, answer in zip(plan, answers):
        by_version[version].append(answer)
    return by_version[baseline], by_version[candidate]


def confirm(gate: LatencySmokeGate, baseline: str, candidate: str,
            measure_round: Callable[[int], tuple[list[Answer], list[Answer]]]) -> GateResult:
    """Judge the first round; a p95 breach (not errors) is measured again and judged on all rounds pooled.

    Pooling, not "every round must fail": the first round was kept because it failed, so the pooled p95
    still leans towards failing, while one noisy second of a busy machine no longer decides alone.
    """
    base_answers, cand_answers = measure_round(0)
    rounds = 1
    while True:
        measured_baseline, measured_candidate = summarize(baseline, base_answers), summarize(candidate, cand_answers)
        result = judge(gate, measured_baseline, measured_candidate)
        errors_failed = measured_candidate.error_rate > gate.max_error_rate
        if result.passed or errors_failed or rounds > gate.confirm_rounds:
            break
        more_base, more_cand = measure_round(rounds)
        base_answers, cand_answers = base_answers + more_base, cand_answers + more_cand
        rounds += 1
    summary = result.summary + (f" ({rounds} rounds of {gate.requests} requests each, pooled)" if rounds > 1 else "")
    return GateResult(result.name, result.passed, summary, {**result.numbers, "rounds": rounds})


def run(gate: LatencySmokeGate, baseline: str, candidate: str, urls: dict[str, str], holdout: Holdout) -> GateResult:
    """Measure and judge, confirming a p95 breach with more rounds (see confirm)."""
    return confirm(gate, baseline, candidate, lambda index: measure(gate, baseline, candidate, urls, holdout,
                                                                    warmup=WARMUP if index == 0 else 0))
