"""Read the load generator's exporters and turn two readings into rates, failures and p95 per served version.

The parsing and the window arithmetic are pure (tests feed them text); `read_exporters` does the HTTP.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "rolloutlab_client_requests"
DURATION = "rolloutlab_client_request_duration_seconds"
FEEDBACK = "rolloutlab_client_feedback"


@dataclass
class Snapshot:
    """Cumulative counters of every exporter at one moment, summed over processes."""

    at: float = 0.0  # time.monotonic() of the reading
    requests: dict[tuple[str, str], float] = field(default_factory=dict)  # (served_version, outcome) → count
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)  # served_version → {le: cumulative}
    feedback: dict[tuple[str, str], float] = field(default_factory=dict)  # (version, outcome) → count
    users: float = 0.0
    target_users: float = 0.0
    cpu_percent: list[float] = field(default_factory=list)  # one per Locust process
    answered: int = 0  # exporters that answered

    def add(self, other: Snapshot) -> None:
        for key, value in other.requests.items():
            self.requests[key] = self.requests.get(key, 0.0) + value
        for version, buckets in other.buckets.items():
            mine = self.buckets.setdefault(version, {})
            for le, value in buckets.items():
                mine[le] = mine.get(le, 0.0) + value
        for key, value in other.feedback.items():
            self.feedback[key] = self.feedback.get(key, 0.0) + value
        self.users += other.users
        self.target_users += other.target_users
        self.cpu_percent += other.cpu_percent
        self.answered += other.answered


def parse_exposition(text: str) -> Snapshot:
    """One exporter's /metrics text as a Snapshot (at = 0)."""
    snap = Snapshot(answered=1)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, float(sample.value)
            if sample.name == f"{REQUESTS}_total":
                snap.requests[(labels["served_version"], labels["outcome"])] = value
            elif sample.name == f"{DURATION}_bucket":
                snap.buckets.setdefault(labels["served_version"], {})[float(labels["le"])] = value
            elif sample.name == f"{FEEDBACK}_total":
                snap.feedback[(labels["version"], labels["outcome"])] = value
            elif sample.name == "rolloutlab_client_users":
                snap.users = value
            elif sample.name == "rolloutlab_load_target_users":
                snap.target_users = value
            elif sample.name == "rolloutlab_client_cpu_percent":
                snap.cpu_percent.append(value)
    return snap


def read_exporters(urls: list[str], timeout: float = 1.0) -> Snapshot:
    """Sum of every exporter that answers now; one that does not is simply missing from `answered`."""
    total = Snapshot(at=time.monotonic())
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                total.add(parse_exposition(response.read().decode("utf-8")))
        except (OSError, urllib.error.URLError, ValueError):
            continue
    return total


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """The q-quantile of a cumulative histogram, interpolated in its bucket as Prometheus does (NaN: empty)."""
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return math.nan
    total = buckets[edges[-1]]
    rank = q * total
    lower_edge, lower_count = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return lower_edge  # beyond the last finite bucket: its bound is the best we know
            if count == lower_count:
                return edge
            return lower_edge + (edge - lower_edge) * (rank - lower_count) / (count - lower_count)
        lower_edge, lower_count = edge, count
    return edges[-1]


@dataclass(frozen=True)
class VersionWindow:
    requests: float
    failures: float
    rps: float
    p50_ms: float
    p95_ms: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else math.nan


@dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    seconds: float
    versions: dict[str, VersionWindow]
    total: VersionWindow
    outcomes: dict[str, float]  # outcome → count, all versions
    feedback: dict[str, float]  # outcome → count, all versions
    users: float
    target_users: float
    cpu_percent: float  # the busiest Locust process

    @property
    def connection_errors(self) -> float:
        return self.outcomes.get("connection_error", 0.0)


def _delta_buckets(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def _summarise(requests: float, failures: float, buckets: dict[float, float], seconds: float) -> VersionWindow:
    return VersionWindow(requests, failures, requests / seconds if seconds > 0 else math.nan,
                         1000 * histogram_quantile(0.50, buckets), 1000 * histogram_quantile(0.95, buckets))


def window(before: Snapshot, after: Snapshot) -> Window:
    """Rates, failures and percentiles per served version between two snapshots (counters only grow)."""
    seconds = after.at - before.at
    requests: dict[str, float] = defaultdict(float)
    failures: dict[str, float] = defaultdict(float)
    outcomes: dict[str, float] = defaultdict(float)
    for (version, outcome), value in after.requests.items():
        delta = max(0.0, value - before.requests.get((version, outcome), 0.0))
        requests[version] += delta
        outcomes[outcome] += delta
        if outcome != "ok":
            failures[version] += delta
    total_buckets: dict[float, float] = defaultdict(float)
    versions: dict[str, VersionWindow] = {}
    for version in sorted(requests):
        buckets = _delta_buckets(before.buckets.get(version, {}), after.buckets.get(version, {}))
        for le, value in buckets.items():
            total_buckets[le] += value
        if requests[version] > 0:
            versions[version] = _summarise(requests[version], failures[version], buckets, seconds)
    feedback: dict[str, float] = defaultdict(float)
    for (version, outcome), value in after.feedback.items():
        feedback[outcome] += max(0.0, value - before.feedback.get((version, outcome), 0.0))
    return Window(
        seconds=seconds,
        versions=versions,
        total=_summarise(sum(requests.values()), sum(failures.values()), dict(total_buckets), seconds),
        outcomes=dict(outcomes),
        feedback=dict(feedback),
        users=after.users,
        target_users=after.target_users,
        cpu_percent=max(after.cpu_percent, default=math.nan),
    )
