"""Offline evaluation of a version: held-out accuracy/F1 and model latency (measured at build time,
stored in the bento), plus what its faults are expected to do: the oracle scenarios gate and score on.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from rolloutlab.zoo.catalogue import Catalogue
from rolloutlab.zoo.schema import Faults
from rolloutlab.zoo.store import built

QUANTILES = (0.5, 0.95, 0.99)


def added_latency_ms(median_ms: float, sigma: float, fraction: float, quantile: float) -> float:
    """Quantile of the added latency when `fraction` of requests get lognormal(median, sigma) and the rest none."""
    if quantile <= 1.0 - fraction:
        return 0.0
    within = (quantile - (1.0 - fraction)) / fraction
    within = min(within, 1.0 - 1e-9)
    return median_ms * math.exp(sigma * NormalDist().inv_cdf(within))


def expected_fault_effects(faults: Faults) -> dict[str, Any]:
    """What each fault should do to a server, in the units tests and scenarios measure."""
    effects: dict[str, Any] = {}
    if faults.latency:
        spec = faults.latency
        effects["added_latency_ms"] = {
            f"p{round(q * 100)}": round(added_latency_ms(spec.median_ms, spec.sigma, spec.fraction, q), 3)
            for q in QUANTILES
        }
    effects["error_rate"] = faults.errors.rate if faults.errors else 0.0
    if faults.leak:
        effects["leak_bytes_per_request"] = int(faults.leak.kib_per_request * 1024)
    if faults.cold_start:
        effects["cold_start_seconds"] = faults.cold_start.seconds
    return effects


def evaluation(catalogue: Catalogue, name: str) -> dict[str, Any] | None:
    """The stored evaluation of the version's current build, with its expected fault effects; None if not built."""
    build = built(catalogue, name)
    if build is None:
        return None
    return {
        "name": name,
        "tag": build.tag,
        **build.evaluation,
        "faults": catalogue.versions[name].faults.kinds(),
        "expected": expected_fault_effects(catalogue.versions[name].faults),
    }
