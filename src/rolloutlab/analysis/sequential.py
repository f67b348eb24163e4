"""Sequential checks: judge the window since the step began at every look, and stop once the evidence is conclusive.

Each check whose metric has an always-valid test is decided by it as soon as it is conclusive either way,
with error probability at most `alpha` however many looks come before (Ville's inequality):
- error_rate, accuracy against an absolute bound: the truncated beta-mixture test of a proportion
  (stats/bernoulli_sequence.py; Howard et al. 2021);
- accuracy against the reference (max_drop): the mixture SPRT of Johari et al. on the shifted difference
  candidate − reference + max_drop (stats/sequential.py), which is 0 exactly at the bound;
- latency quantiles (p50/p95/p99) on Prometheus histograms: a q-quantile is above B exactly when more than
  1 − q of the requests are above B (the sequential quantile test of Howard & Ramdas, Bernoulli 2022), and a
  histogram counts requests above each bucket bound exactly: "above the first bound ≥ B" proves a
  breach, "above the last bound ≤ B" staying under 1 − q proves a pass. B is the check's threshold (from
  the reference's quantile for max_ratio, taken as given, as the fixed rule takes it).
A check not yet conclusive falls back to the fixed rule on the same (growing) window once its minimum
sample is reached — the minimum exposure a step needs before it may pass without conclusive evidence.
memory_per_request and rps have no sequential test: the fixed rule alone decides them.
"""

from __future__ import annotations

import math
from dataclasses import replace

from rolloutlab.analysis.checks import Check, Observed, assess
from rolloutlab.analysis.thresholds import fmt
from rolloutlab.analysis.verdict import Assessment, CheckResult, Verdict, combine
from rolloutlab.sim.histogram import LATENCY_BUCKETS
from rolloutlab.stats.bernoulli_sequence import below, exceeds
from rolloutlab.stats.sequential import mixture_likelihood_ratio

QUANTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}
INF = math.inf


def latency_bounds(threshold_ms: float) -> tuple[float | None, float | None]:
    """The bucket bounds (seconds) around a latency threshold: the last ≤ it and the first ≥ it (None: none)."""
    b = threshold_ms / 1000.0
    lower = max((le for le in LATENCY_BUCKETS if le <= b + 1e-12), default=None)
    upper = min((le for le in LATENCY_BUCKETS if le >= b - 1e-12), default=None)
    return lower, upper


def _counted(part: float, whole: float) -> float:
    """Prometheus' increase() extrapolates each series apart: a part may come out a little outside [0, whole]."""
    return min(max(part, 0.0), whole)


def _proportion(successes: float, n: float, bound: float, higher_is_better: bool, alpha: float) -> Verdict | None:
    if not 0 < bound < 1 or n <= 0:
        return None
    successes = _counted(successes, n)
    over, under = exceeds(successes, n, bound, alpha), below(successes, n, bound, alpha)
    if over:
        return Verdict.SUCCESSFUL if higher_is_better else Verdict.FAILED
    if under:
        return Verdict.FAILED if higher_is_better else Verdict.SUCCESSFUL
    return None


def _drop(judged: Observed, ref: Observed, max_drop: float, alpha: float) -> Verdict | None:
    """mSPRT on (candidate − reference) + max_drop: negative and conclusive fails, positive and conclusive passes."""
    (s1, n1), (s2, n2) = (judged.metrics.reward, judged.metrics.feedback), (ref.metrics.reward, ref.metrics.feedback)
    if n1 <= 0 or n2 <= 0:
        return None
    s1, s2 = _counted(s1, n1), _counted(s2, n2)
    p1, p2 = (s1 + 0.5) / (n1 + 1), (s2 + 0.5) / (n2 + 1)  # never a zero variance from all-correct labels
    estimate = s1 / n1 - s2 / n2 + max_drop
    variance = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    if mixture_likelihood_ratio(estimate, variance, max_drop**2) < 1 / alpha:
        return None
    return Verdict.SUCCESSFUL if estimate > 0 else Verdict.FAILED


def _quantile(check: Check, judged: Observed, threshold: float, alpha: float) -> tuple[Verdict | None, str]:
    q = QUANTILES[check.metric]
    total = judged.at_most.get(INF, 0.0)
    if total <= 0:
        return None, ""
    lower, upper = latency_bounds(threshold)
    if upper is not None and upper in judged.at_most:
        above = _counted(total - judged.at_most[upper], total)
        if exceeds(above, total, 1 - q, alpha):
            return Verdict.FAILED, f"{above:.0f} of {total:.0f} above {upper * 1000:g} ms (> {1 - q:.0%})"
    if lower is not None and lower in judged.at_most:
        above = _counted(total - judged.at_most[lower], total)
        if below(above, total, 1 - q, alpha):
            return Verdict.SUCCESSFUL, f"{above:.0f} of {total:.0f} above {lower * 1000:g} ms (< {1 - q:.0%})"
    return None, ""


def _sequential(check: Check, result: CheckResult, judged: Observed, ref: Observed | None,
                alpha: float) -> tuple[Verdict | None, str]:
    m, metrics = check.metric, judged.metrics
    if m == "error_rate" and check.max is not None:
        return _proportion(metrics.errors, metrics.requests, check.max, False, alpha), ""
    if m == "accuracy" and check.min is not None:
        return _proportion(metrics.reward, metrics.feedback, check.min, True, alpha), ""
    if m == "accuracy" and check.max_drop is not None and ref is not None:
        return _drop(judged, ref, check.max_drop, alpha), ""
    if m in QUANTILES and result.threshold is not None:
        return _quantile(check, judged, result.threshold, alpha)
    return None, ""


def assess_sequential(
    checks: list[Check], judged: Observed, reference: Observed | None, fallback: Observed | None,
    min_requests: int, min_feedback: int, alpha: float,
) -> Assessment:
    """`assess` over the window since the step began, with every check an always-valid test first."""
    fixed = assess(checks, judged, reference, fallback, min_requests, min_feedback)
    results = []
    for check, result in zip(checks, fixed.checks):
        # the reference `assess` compared with: the one whose value it recorded
        ref = next((o for o in (reference, fallback) if o is not None and result.reference is not None
                    and o.values.get(check.metric) == result.reference), None)
        verdict, detail = _sequential(check, result, judged, ref, alpha)
        if verdict is None and check.metric in QUANTILES and check.min_samples is None \
                and result.threshold is not None and result.samples >= result.min_samples \
                and judged.at_most.get(INF, 0.0) > 0:  # the buckets were read: the test did run
            # A quantile from a few dozen requests is one or two requests' latency (the fixed rule rolled a
            # healthy v2 back in 2 % of runs at 50 requests): at the minimum exposure the exceedance test
            # decides, and what it has not found is no regression. A check with its own min_samples says
            # from how many requests its quantile is trusted: the fixed rule judges it from there.
            results.append(replace(result, verdict=Verdict.SUCCESSFUL, message=(
                f"{check.label}: no breach of {result.bound} in {result.samples:.0f} requests "
                f"(always-valid, α {alpha:g})")))
            continue
        if verdict is None:
            results.append(result)
            continue
        word = "breaks" if verdict is Verdict.FAILED else "within"
        what = detail or fmt(check.metric, result.value)
        message = (f"{check.label} {what} {word} {result.bound}: conclusive after {result.samples:.0f} "
                   f"(always-valid, α {alpha:g})")
        results.append(replace(result, verdict=verdict, message=message, conclusive=True))
    verdict = combine(tuple(results))
    shown = [r for r in results if r.verdict is not Verdict.SUCCESSFUL] or results
    return Assessment(verdict, tuple(r.message for r in shown), tuple(results), fixed.candidate, fixed.baseline)


def bucket_bounds(checks: list[Check], reference: Observed | None, fallback: Observed | None) -> set[float]:
    """The bucket bounds (seconds) the judged version's quantile checks need counts at (inf: the total)."""
    wanted: set[float] = set()
    for check in checks:
        if check.metric not in QUANTILES:
            continue
        if check.max is not None:
            wanted.update(b for b in latency_bounds(check.max) if b is not None)
            continue
        for ref in (reference, fallback):
            value = ref.values.get(check.metric, math.nan) if ref is not None else math.nan
            if check.max_ratio is not None and not math.isnan(value):
                threshold = max(value * check.max_ratio, value + check.tolerance)
                wanted.update(b for b in latency_bounds(threshold) if b is not None)
    return wanted | {INF} if wanted else wanted
