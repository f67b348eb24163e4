"""The faults a version's server injects, as fixed at build time in its build.json (never switched at run time).

Every fault draws from its own seeded random stream, so a server started twice misbehaves the same way
and adding one fault to a version does not change the draws of another.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any


class FaultInjector:
    """Latency, errors, memory leak and slow start for one server process, from the version's fault spec."""

    def __init__(self, spec: dict[str, Any], started: float | None = None) -> None:
        seed = int(spec.get("seed", 0))
        self.latency: dict[str, Any] | None = spec.get("latency")
        self.errors: dict[str, Any] | None = spec.get("errors")
        self.leak_spec: dict[str, Any] | None = spec.get("leak")
        self.warm_up_seconds = float(spec["cold_start"]["seconds"]) if spec.get("cold_start") else 0.0
        # The warm-up clock starts when the server first answers (its first readiness probe or request),
        # not at __init__: BentoML's start-up after __init__ takes seconds, and varies with machine load.
        self.ready_at: float | None = started + self.warm_up_seconds if started is not None else None
        self._latency_rng = random.Random(f"{seed}:latency")
        self._error_rng = random.Random(f"{seed}:errors")
        self._leaked: list[bytes] = []

    def delay_seconds(self) -> float:
        """Added latency for the next request: lognormal around median_ms for `fraction` of requests."""
        if not self.latency:
            return 0.0
        if self._latency_rng.random() >= self.latency.get("fraction", 1.0):
            return 0.0
        median = self.latency["median_ms"] / 1000.0
        return median * math.exp(self.latency.get("sigma", 0.5) * self._latency_rng.gauss(0.0, 1.0))

    def error_status(self) -> int | None:
        """The 5xx status to answer the next valid request with, or None to serve it."""
        if self.errors and self._error_rng.random() < self.errors["rate"]:
            return int(self.errors.get("status", 503))
        return None

    def leak(self) -> None:
        """Keep kib_per_request of memory forever, written so it is really resident (not lazily mapped)."""
        if self.leak_spec:
            size = int(self.leak_spec["kib_per_request"] * 1024)
            self._leaked.append(bytes([len(self._leaked) % 251 + 1]) * size)

    @property
    def leaked_bytes(self) -> int:
        return sum(len(chunk) for chunk in self._leaked)

    def is_warm(self) -> bool:
        """False while a cold-start version is still 'loading' (warm_up_seconds from the first call)."""
        now = time.monotonic()
        if self.ready_at is None:
            self.ready_at = now + self.warm_up_seconds
        return now >= self.ready_at

    def describe(self) -> str:
        parts = []
        if self.latency:
            share = self.latency.get("fraction", 1.0)
            parts.append(f"+{self.latency['median_ms']:g} ms median latency on {share:.1%} of requests")
        if self.errors:
            parts.append(f"{self.errors['rate']:.1%} of requests answered {self.errors.get('status', 503)}")
        if self.leak_spec:
            parts.append(f"leaks {self.leak_spec['kib_per_request']:g} KiB per request")
        return "; ".join(parts) or "no faults"
