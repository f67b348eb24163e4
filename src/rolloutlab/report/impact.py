"""Who was served by which version during a run, from the run's prediction-log slices: blast radius and regret.

A request counts as a user's when a load-generator user sent it and got the answer: mirrored copies (a
shadow's) and the lab's own probes (smoke tests, switch timing: no user) are counted apart. Latency is
the server's handler time as logged, so a slow version's requests are slow here exactly as users felt
them, minus the router's own sub-millisecond share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rolloutlab.report.rundir import RunData

PROBE_USERS = (None, "", "probe")


@dataclass
class VersionImpact:
    requests: int = 0  # answers users received from this version
    users: int = 0  # distinct users among them
    mirrored: int = 0  # shadow copies answered (users never saw them)
    probes: int = 0  # the lab's own requests (smoke tests, switch timing)
    over_slo: int = 0  # user requests slower than the SLO (when one is given)
    p95_ms: float | None = None  # handler latency of the user requests


@dataclass
class Impact:
    versions: dict[str, VersionImpact] = field(default_factory=dict)
    slo_ms: float | None = None
    regret: float | None = None  # expected wrong answers beyond always serving the best acceptable version
    regret_curve: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, cumulative)
    best: str | None = None

    def blast(self, bad: list[str]) -> tuple[int, int, int]:
        """Requests, distinct users and SLO-violating requests the `bad` versions served users."""
        chosen = [self.versions[v] for v in bad if v in self.versions]
        return (sum(v.requests for v in chosen), sum(v.users for v in chosen), sum(v.over_slo for v in chosen))

    @property
    def over_slo(self) -> int:
        return sum(v.over_slo for v in self.versions.values())


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def impact(data: RunData, slo_ms: float | None = None, bad: list[str] | None = None) -> Impact | None:
    """The run's impact on users; None when the run kept no prediction logs (older run directories)."""
    if data.predictions is None:
        return None
    result = Impact(slo_ms=slo_ms)
    user_answers: list[tuple[float, str]] = []
    for version, lines in data.predictions.items():
        v = VersionImpact()
        users: set[str] = set()
        latencies: list[float] = []
        for line in lines:
            if line.get("kind") != "prediction":
                continue
            if line.get("mirrored"):
                v.mirrored += 1
            elif line.get("user") in PROBE_USERS:
                v.probes += 1
            else:
                v.requests += 1
                users.add(str(line["user"]))
                latency = float(line.get("latency_ms", 0.0))
                latencies.append(latency)
                if slo_ms is not None and latency > slo_ms:
                    v.over_slo += 1
                user_answers.append((float(line.get("ts", 0.0)), version))
        v.users, v.p95_ms = len(users), _p95(latencies)
        result.versions[version] = v
    _regret(data, result, user_answers, bad or [])
    return result


def _regret(data: RunData, result: Impact, answers: list[tuple[float, str]], bad: list[str]) -> None:
    """Cumulative expected wrong answers against always serving the most accurate acceptable version."""
    rates: dict[str, Any] = {v: data.accuracy(v) for v in result.versions}
    acceptable = {v: r for v, r in rates.items() if r is not None and v not in bad}
    if not acceptable or any(rates[v] is None for _, v in answers):
        return
    best = max(sorted(acceptable), key=lambda v: acceptable[v])
    start = data.start_ts or 0.0
    total = 0.0
    curve = [(0.0, 0.0)]
    for ts, version in sorted(answers):
        total += max(0.0, acceptable[best] - rates[version])
        curve.append((round(ts - start, 3), total))
    result.regret, result.regret_curve, result.best = round(total, 2), curve, best
