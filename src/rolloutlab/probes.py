"""Requests the engine sends through the router itself: blue-green smoke tests and switch timing.

Both go where users' requests go (the router URL: NGINX locally, a port-forward on Kubernetes), so they
test the route, not just the server behind it.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from rolloutlab.analysis.agreement import agreement, read_log
from rolloutlab.gates.result import GateResult
from rolloutlab.gates.runner import run_gates
from rolloutlab.scenario.gates import Gates
from rolloutlab.metrics.base import MetricsSource
from rolloutlab.scenario import Smoke
from rolloutlab.strategies.base import Probe, ProbeResult

BAD_BODIES = {  # each must be answered 4xx (JSON) by a version that honours the API contract
    "not JSON": b"{not json",
    "wrong row length": json.dumps({"instances": [[0.0] * 3]}).encode(),
    "missing instances": json.dumps({"rows": []}).encode(),
}
# Every request the router could not answer well: a version's 5xx, and NGINX's own 502/504 for an upstream
# that refused, reset or timed out (those are counted again by kind in rolloutlab_router_upstream_failures).
ROUTER_FAILURES = 'sum(increase(rolloutlab_router_requests_total{code=~"5.."}[$w])) or vector(0)'
# On a cluster the router is Envoy, which the lab's Prometheus does not scrape; the in-cluster load generator's
# client metrics count what users saw. No load series at all (local load) gives NaN: "unknown", never a 0.
CLIENT_FAILURES = ('sum(increase(rolloutlab_client_requests_total{job="load",outcome!="ok"}[$w])) '
                   'or (0 * sum(rolloutlab_client_requests_total{job="load"}))')


def load_holdout(path: Path, limit: int, seed: int = 7) -> list[dict]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    random.Random(seed).shuffle(rows)
    return rows[:limit]


@dataclass
class RouterProbes:
    """The engine's Hooks for any target with an HTTP router: smoke tests, switch timing, and retire."""

    router_url: str
    holdout: Path
    smoke_spec: Smoke
    metrics: MetricsSource
    retire_version: Callable[[str], str] = lambda version: f"{version} left running (this target cannot stop it)"
    prediction_log: Callable[[str], Path] | None = None  # where a version's server writes its prediction log
    version_urls: dict[str, str] = field(default_factory=dict)  # each version's own server, for the gates
    run_dir: Path | None = None
    timeout_s: float = 5.0
    failures_query: str = ROUTER_FAILURES  # failed requests around a switch, over $w

    def _post(self, session: requests.Session, body: bytes, headers: dict[str, str]) -> tuple[int, str, dict, float]:
        started = time.perf_counter()
        r = session.post(f"{self.router_url}/predict", data=body, timeout=self.timeout_s,
                         headers={"content-type": "application/json", **headers})
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            payload = r.json()
        except ValueError:
            payload = {}
        return r.status_code, r.headers.get("x-model-version", ""), payload, elapsed_ms

    def smoke(self, probe: Probe) -> ProbeResult:
        """Held-out labelled rows and bad bodies through the preview route: right version, right answers, fast."""
        spec = self.smoke_spec
        rows = load_holdout(self.holdout, spec.requests)

        def one(row: dict) -> tuple[int, str, dict, float]:
            with requests.Session() as session:
                return self._post(session, json.dumps({"instances": [row["features"]]}).encode(), probe.headers)

        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(one, rows))
            with requests.Session() as session:
                bad = {name: self._post(session, body, probe.headers) for name, body in BAD_BODIES.items()}
        except requests.RequestException as exc:
            return ProbeResult(False, f"the router did not answer: {exc}")
        ok = [a for a in answers if a[0] == 200]
        wrong_version = sum(1 for a in answers if a[1] != probe.version)
        correct = sum(1 for a, row in zip(answers, rows)
                      if a[0] == 200 and a[2].get("predictions") == [row["label"]])
        latencies = sorted(a[3] for a in answers)
        p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)]
        accuracy = correct / len(rows)
        contract = {name: status for name, (status, *_rest) in bad.items()}
        problems = []
        if len(ok) < len(rows):
            problems.append(f"{len(rows) - len(ok)} of {len(rows)} requests failed")
        if wrong_version:
            problems.append(f"{wrong_version} answered by another version than {probe.version}")
        if accuracy < spec.min_accuracy:
            problems.append(f"accuracy {accuracy:.1%} < {spec.min_accuracy:.1%}")
        if p95 > spec.max_p95_ms:
            problems.append(f"p95 {p95:.1f} ms > {spec.max_p95_ms:g} ms")
        broken = [f"{name} → {status}" for name, status in contract.items() if not 400 <= status < 500]
        if broken:
            problems.append(f"API contract: bad input not refused with 4xx ({', '.join(broken)})")
        numbers = {"requests": len(rows), "ok": len(ok), "wrong_version": wrong_version, "accuracy": accuracy,
                   "p95_ms": round(p95, 2), "contract": contract}
        summary = (f"{len(ok)}/{len(rows)} ok, accuracy {accuracy:.1%}, p95 {p95:.1f} ms, "
                   f"bad input → {sorted(set(contract.values()))}")
        return ProbeResult(not problems, "; ".join(problems) if problems else summary, numbers)

    def time_switch(self, version: str, applied_at: float) -> dict[str, float | None]:
        """Seconds from apply until every new request reaches `version` (20 in a row), and failed requests."""
        apply_s = time.monotonic() - applied_at
        body = json.dumps({"instances": [load_holdout(self.holdout, 1)[0]["features"]]}).encode()
        streak, first_of_streak, deadline = 0, None, time.monotonic() + 30
        with requests.Session() as session:
            while streak < 20 and time.monotonic() < deadline:
                try:
                    status, served, _payload, _ms = self._post(session, body, {})
                except requests.RequestException:
                    status, served = 0, ""
                if status == 200 and served == version:
                    first_of_streak = first_of_streak if streak else time.monotonic()
                    streak += 1
                else:
                    streak = 0
                time.sleep(0.01)
        switch_s = (first_of_streak - applied_at) if streak >= 20 and first_of_streak else None
        time.sleep(2.5)  # two scrapes, so Prometheus has seen the router's counters after the switch
        window = f"{max(3, math.ceil(time.monotonic() - applied_at) + 2)}s"
        failed = self.metrics.query(self.failures_query.replace("$w", window))
        return {"apply_s": round(apply_s, 3), "switch_s": round(switch_s, 3) if switch_s is not None else None,
                "failed_requests": None if math.isnan(failed) else round(failed)}

    def retire(self, version: str) -> str:
        return self.retire_version(version)

    def gates(self, gates: Gates, baseline: str, candidate: str) -> list[GateResult]:
        return run_gates(gates, baseline=baseline, candidate=candidate, urls=self.version_urls,
                         holdout=self.holdout, run_dir=self.run_dir)

    def agreement(self, baseline: str, shadow: str, since: float) -> dict[str, object]:
        """Both versions' prediction logs since `since`, joined on the request id (see analysis/agreement.py)."""
        if self.prediction_log is None:
            return {"matched": 0, "agreement": None, "error": "this target keeps no prediction logs"}
        # Feedback for the last requests is still on its way: give it the time the load's delay asks.
        return agreement(read_log(self.prediction_log(baseline), since), read_log(self.prediction_log(shadow), since))
