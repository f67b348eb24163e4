"""Latency smoke gate: single-row requests to baseline and candidate, interleaved, p50/p95 compared."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from rolloutlab.gates.client import Answer, post
from rolloutlab.gates.holdout import Holdout
from rolloutlab.gates.result import GateResult
from rolloutlab.gates.schema import LatencySmokeGate

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


def measure(gate: LatencySmokeGate, baseline: str, candidate: str, urls: dict[str, str],
            holdout: Holdout) -> tuple[Latencies, Latencies]:
    """gate.requests single-row POSTs per version, alternating in one pool so both share the machine's load."""
    bodies = [json.dumps({"instances": [row]}).encode() for row in holdout.features]

    def one(index: int, version: str) -> Answer:
        return post(version, urls[version].rstrip("/") + "/predict", bodies[index % len(bodies)])

    for version in (baseline, candidate):
        for index in range(WARMUP):
            one(index, version)
    plan = [baseline, candidate] * gate.requests
    with ThreadPoolExecutor(gate.concurrency, thread_name_prefix="latency-smoke") as pool:
        answers = list(pool.map(one, range(len(plan)), plan))
    by_version: dict[str, list[Answer]] = {baseline: [], candidate: []}
    for version, answer in zip(plan, answers):
        by_version[version].append(answer)
    return summarize(baseline, by_version[baseline]), summarize(candidate, by_version[candidate])


def run(gate: LatencySmokeGate, baseline: str, candidate: str, urls: dict[str, str], holdout: Holdout) -> GateResult:
    measured_baseline, measured_candidate = measure(gate, baseline, candidate, urls, holdout)
    return judge(gate, measured_baseline, measured_candidate)
