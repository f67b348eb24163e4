"""The pre-deploy gates against real `bentoml serve` processes, one per version, before any router exists.

All servers start together (one wait for readiness); each test runs the gates of one candidate against v1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rolloutlab import zoo
from rolloutlab.gates import GateResult, Gates, StressGate, run_gates
from rolloutlab.targets.processes import wait_until_ready
from rolloutlab.zoo.server import ModelServer, start_server
from tests.integration.conftest import lab_processes

VERSIONS = ["v1", "v2", "degraded", "slow", "flaky"]


@pytest.fixture(scope="module")
def urls(lab_home: Path, built_models: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # Servers live across the module's tests, so the `home` fixture's check that nothing of the lab home
    # runs is done here, before and after the module.
    assert lab_processes(lab_home) == []
    zoo.ensure_built(VERSIONS)
    catalogue = zoo.load_catalogue()
    workdir = tmp_path_factory.mktemp("gate-servers")
    servers: list[ModelServer] = []
    try:
        for name in VERSIONS:
            servers.append(start_server(catalogue, name, workdir))
        wait_until_ready({s.name: (s.record, s.url + "/readyz") for s in servers}, timeout=150)
        yield {s.name: s.url for s in servers}
    finally:
        for server in servers:
            server.stop()
        leftovers = lab_processes(lab_home)
        for process in leftovers:
            process.kill()
        assert leftovers == [], f"processes left running: {[p.info['cmdline'] for p in leftovers]}"


def gates_of(candidate: str, urls: dict[str, str], gates: Gates = Gates(), **kwargs: object) -> dict[str, GateResult]:
    started = time.monotonic()
    results = run_gates(gates, baseline="v1", candidate=candidate, urls=urls, holdout=zoo.holdout_path(), **kwargs)
    for result in results:  # shown with -s: the figures the report quotes
        print(f"{candidate}: {'PASS' if result.passed else 'FAIL'} {result.name} ({result.seconds:.1f}s) "
              f"{result.summary}")
    print(f"{candidate}: gates took {time.monotonic() - started:.1f}s")
    return {r.name: r for r in results}


def test_degraded_is_stopped_by_the_offline_gate_with_its_numbers(urls: dict[str, str]) -> None:
    results = gates_of("degraded", urls)
    assert list(results) == ["offline_eval", "contract", "latency_smoke"]  # every gate runs and is reported
    offline = results["offline_eval"]
    assert not offline.passed
    numbers = offline.numbers
    assert numbers["candidate_accuracy"] < 0.85 < 0.9 < numbers["baseline_accuracy"]
    assert numbers["accuracy_drop"] > 0.1 and numbers["f1_drop"] > 0.1 and numbers["rows"] > 500
    assert f"accuracy {numbers['candidate_accuracy']:.3f} vs v1 {numbers['baseline_accuracy']:.3f} (drop" in offline.summary
    catalogue = zoo.load_catalogue()
    for role, version in (("candidate", "degraded"), ("baseline", "v1")):
        # The served artifacts score what the build measured in-process: the gate asked the real servers.
        stored = zoo.evaluation(catalogue, version)
        assert stored is not None and abs(stored["accuracy"] - numbers[f"{role}_accuracy"]) < 1e-6  # stored rounded to 6 places
    assert results["contract"].passed, results["contract"].summary  # a worse model, not a broken API
    assert results["latency_smoke"].passed, results["latency_smoke"].summary


def test_v2_passes_every_gate_against_v1_including_a_short_stress(urls: dict[str, str], tmp_path: Path) -> None:
    gates = Gates(stress=StressGate(enabled=True, min_rps=50, steps=3, step_time=5))
    results = gates_of("v2", urls, gates, run_dir=tmp_path / "stress")
    failed = {name: r.summary for name, r in results.items() if not r.passed}
    assert failed == {}
    assert results["offline_eval"].numbers["candidate_accuracy"] > 0.98
    assert results["contract"].numbers["failed"] == 0 and results["contract"].numbers["cases"] == 8
    smoke = results["latency_smoke"].numbers
    assert smoke["candidate_errors"] == 0 and smoke["baseline_errors"] == 0
    assert results["stress"].numbers["measured_steps"] == 3
    assert (tmp_path / "stress" / "stress.json").is_file()


def test_slow_fails_the_latency_smoke_and_the_stress_is_skipped(urls: dict[str, str]) -> None:
    results = gates_of("slow", urls, Gates(stress=StressGate(enabled=True)))
    smoke = results["latency_smoke"]
    assert not smoke.passed
    assert smoke.numbers["candidate_p95_ms"] > smoke.numbers["allowed_p95_ms"]
    assert smoke.numbers["candidate_p50_ms"] - smoke.numbers["baseline_p50_ms"] > 30  # its ≈ 60 ms added median
    assert "allowed (baseline v1" in smoke.summary
    assert results["offline_eval"].passed and results["contract"].passed  # v2's model, just slow
    assert results["stress"].skipped and results["stress"].summary == "skipped: latency_smoke failed first"


def test_flaky_fails_the_latency_smoke_on_its_injected_503s(urls: dict[str, str]) -> None:
    results = gates_of("flaky", urls)
    smoke = results["latency_smoke"]
    assert not smoke.passed
    errors = smoke.numbers["candidate_errors"]
    assert isinstance(errors, int) and 6 <= errors <= 34, errors  # 10 % of 200 = 20, ± 3.3 sd
    assert smoke.numbers["candidate_error_statuses"] == f"503×{errors}"
    assert f"{errors} of 200 requests failed (503×{errors})" in smoke.summary
    # The offline gate retries a 5xx (it judges predictions): flaky scores as v2's model does.
    assert results["offline_eval"].passed, results["offline_eval"].summary
    # The contract sends each good body once, so it catches flaky only when one of its two good requests
    # draws the 10 % fault (≈ 19 % of runs); when it does, the 503 is the only complaint.
    contract = results["contract"]
    if not contract.passed:
        assert all(contract.numbers[f"status_{key}"] in (200, 503) for key in ("one_row", "max_batch"))
        assert "expected 200 (injected_fault)" in contract.summary
