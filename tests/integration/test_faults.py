"""Each fault variant's fault, measured against real `bentoml serve` processes next to a healthy v2.

All servers start together (one wait for readiness); each test compares a fault variant with v2 over
the same stretch of time, with tolerances sized from the number of samples.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from rolloutlab import zoo
from rolloutlab.zoo.server import ModelServer, start_server
from tests.integration.conftest import lab_processes

VERSIONS = ["v2", "slow", "tail-slow", "flaky", "degraded", "leaky", "cold"]
READY_TIMEOUT = 150.0


@dataclass
class Probe:
    """When a server first answered /livez and /readyz (monotonic seconds), polled in the background."""

    live_at: float | None = None
    ready_at: float | None = None


@dataclass
class Lab:
    servers: dict[str, ModelServer]
    probes: dict[str, Probe] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.servers[name].url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _watch(server: ModelServer, probe: Probe, stop: threading.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set() and probe.ready_at is None and time.monotonic() < deadline:
        now = time.monotonic()
        if probe.live_at is None and _answers(server.url + "/livez"):
            probe.live_at = now
        if probe.live_at is not None and _answers(server.url + "/readyz"):
            probe.ready_at = time.monotonic()
        time.sleep(0.1)


@pytest.fixture(scope="module")
def lab(lab_home: Path, built_models: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # The servers live across this module's tests, so the `home` fixture's per-test check that nothing of
    # the lab home runs (BentoML's workers run inside the store) is done here, before and after the module.
    assert lab_processes(lab_home) == []
    zoo.ensure_built(VERSIONS)
    catalogue = zoo.load_catalogue()
    workdir = tmp_path_factory.mktemp("fault-servers")
    lab = Lab({})
    stop = threading.Event()
    watchers = []
    try:
        for name in VERSIONS:
            lab.servers[name] = start_server(catalogue, name, workdir)
            lab.probes[name] = Probe()
            watcher = threading.Thread(target=_watch, args=(lab.servers[name], lab.probes[name], stop), daemon=True)
            watcher.start()
            watchers.append(watcher)
        deadline = time.monotonic() + READY_TIMEOUT
        while any(lab.probes[n].ready_at is None for n in VERSIONS if n != "cold"):
            dead = [n for n, s in lab.servers.items() if not psutil.pid_exists(s.record.pid)]
            assert not dead, f"servers exited: {dead}; logs in {workdir}"
            assert time.monotonic() < deadline, f"servers not ready after {READY_TIMEOUT}s; logs in {workdir}"
            time.sleep(0.2)
        yield lab
    finally:
        stop.set()
        for watcher in watchers:
            watcher.join(timeout=5)
        for server in lab.servers.values():
            server.stop()
        leftovers = lab_processes(lab_home)
        for process in leftovers:
            process.kill()
        assert leftovers == [], f"processes left running: {[p.info['cmdline'] for p in leftovers]}"


@pytest.fixture(scope="module")
def rows(lab: Lab) -> list[dict]:
    return json.loads(zoo.holdout_path().read_text(encoding="utf-8"))


_local = threading.local()


def _post(url: str, body: dict) -> tuple[int, float, dict]:
    session = getattr(_local, "session", None) or requests.Session()
    _local.session = session
    started = time.perf_counter()
    response = session.post(url, json=body, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    return response.status_code, elapsed, response.json()


Result = tuple[int, float, str]  # status, milliseconds, error reason ("" when 200)


def predict_many(lab: Lab, plan: list[str], rows: list[dict], concurrency: int = 6) -> dict[str, list[Result]]:
    """POST one held-out row per entry of plan (a version name each), interleaved; results per version."""
    def one(index: int) -> tuple[str, Result]:
        name = plan[index]
        status, ms, body = _post(lab.url(name) + "/predict", {"instances": [rows[index % len(rows)]["features"]]})
        return name, (status, ms, body.get("reason", ""))

    results: dict[str, list[Result]] = {name: [] for name in set(plan)}
    with ThreadPoolExecutor(concurrency) as pool:
        for name, result in pool.map(one, range(len(plan))):
            results[name].append(result)
    return results


def latencies(results: list[Result]) -> np.ndarray:
    assert all(status == 200 for status, _, _ in results), {s for s, _, _ in results}
    return np.array([ms for _, ms, _ in results])


def test_cold_answers_503_while_warming_up(lab: Lab, rows: list[dict]) -> None:
    assert lab.probes["cold"].ready_at is None, "cold became ready before its warm-up could be observed"
    assert _answers(lab.url("cold") + "/livez")  # alive, just not ready: Kubernetes must not restart it
    response = requests.post(lab.url("cold") + "/predict", json={"instances": [rows[0]["features"]]}, timeout=10)
    assert response.status_code == 503
    assert response.json()["reason"] == "warming_up" and int(response.headers["retry-after"]) >= 1
    assert response.headers["x-model-version"] == "cold"


def test_slow_adds_about_60ms_median_with_a_long_tail(lab: Lab, rows: list[dict]) -> None:
    results = predict_many(lab, ["v2", "slow"] * 150, rows, concurrency=8)
    base, slow = latencies(results["v2"]), latencies(results["slow"])
    added_median = np.median(slow) - np.median(base)
    assert 40 < added_median < 90, (np.median(base), np.median(slow))
    # Lognormal(sigma 0.7): p90 of the added latency is ≈ 2.45 × its median.
    assert np.percentile(slow, 90) - np.median(base) > 1.6 * added_median
    assert slow.min() > base.min()


def test_tail_slow_hurts_p99_but_not_p50_or_p95(lab: Lab, rows: list[dict]) -> None:
    results = predict_many(lab, ["tail-slow", "tail-slow", "v2"] * 400, rows, concurrency=4)
    base, tail = latencies(results["v2"]), latencies(results["tail-slow"])
    slow_share = float(np.mean(tail > 180))  # its delays are 300 ms × e^(0.25 Z): > 180 ms 98 % of the time
    assert 0.007 < slow_share < 0.04, slow_share  # 2 % of 800 = 16; ± 3 sd
    assert float(np.mean(base > 180)) < 0.01
    assert np.median(tail) < np.median(base) + 10
    assert np.percentile(tail, 95) < np.percentile(base, 95) + 30
    assert np.percentile(tail, 99.5) > np.percentile(base, 99.5) + 100


def test_flaky_fails_its_share_with_503_and_counts_it(lab: Lab, rows: list[dict]) -> None:
    results = predict_many(lab, ["flaky", "flaky", "flaky", "v2"] * 200, rows, concurrency=6)
    statuses = [status for status, _, _ in results["flaky"]]
    failed = statuses.count(503)
    assert set(statuses) <= {200, 503}
    assert 36 <= failed <= 84, failed  # 10 % of 600 = 60, ± 3.3 sd
    assert {reason for status, _, reason in results["flaky"] if status == 503} == {"injected_fault"}
    assert {status for status, _, _ in results["v2"]} == {200}
    metrics = requests.get(lab.url("flaky") + "/metrics", timeout=10).text
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("bentoml_service_request_total{") and 'endpoint="/predict"' in line
                  and 'http_response_code="503"' in line)
    assert counted == failed
    assert 'reason="injected_fault"' not in metrics  # a server fault is not a bad request


def test_degraded_scores_visibly_lower_on_held_out_rows(lab: Lab, rows: list[dict]) -> None:
    accuracy = {}
    for name in ("v2", "degraded"):
        correct = 0
        for start in range(0, len(rows), 64):
            batch = rows[start:start + 64]
            status, _, body = _post(lab.url(name) + "/predict", {"instances": [r["features"] for r in batch]})
            assert status == 200
            correct += sum(p == r["label"] for p, r in zip(body["predictions"], batch))
        accuracy[name] = correct / len(rows)
        stored = zoo.evaluation(zoo.load_catalogue(), name)
        assert stored is not None and abs(stored["accuracy"] - accuracy[name]) < 1e-6  # the offline oracle agrees
    assert accuracy["degraded"] < accuracy["v2"] - 0.1, accuracy


def test_leaky_grows_by_its_kib_per_request(lab: Lab, rows: list[dict]) -> None:
    predict_many(lab, ["leaky", "v2"] * 50, rows)  # warm both up first: first requests allocate anyway
    before = {name: lab.servers[name].rss_bytes() for name in ("leaky", "v2")}
    requests_each = 400
    predict_many(lab, ["leaky", "v2"] * requests_each, rows)
    growth = {name: lab.servers[name].rss_bytes() - before[name] for name in before}
    leaked = requests_each * 64 * 1024
    assert growth["leaky"] > 0.7 * leaked, growth
    assert growth["v2"] < 0.3 * leaked, growth


def test_cold_takes_its_warm_up_to_become_ready(lab: Lab) -> None:
    deadline = time.monotonic() + 60
    while lab.probes["cold"].ready_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
    cold, warm = lab.probes["cold"], lab.probes["v2"]
    assert cold.ready_at is not None and cold.live_at is not None, "cold never became ready"
    assert warm.ready_at is not None and warm.live_at is not None
    assert cold.ready_at - cold.live_at >= 18, cold  # 20 s warm-up, polled every 0.1 s
    assert warm.ready_at - warm.live_at < 5, warm
