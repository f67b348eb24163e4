"""Opt-in end to end on a real kind cluster: `pulumi up` of the kind stack, predictions through Envoy Gateway,
Prometheus seeing them, in-cluster Locust master/workers sending load, `pulumi destroy`.

Needs docker, kind, kubectl and the pulumi CLI, and takes minutes (images, Envoy Gateway, a cluster):
run with `ROLLOUTLAB_CLUSTER_TESTS=1 .venv/bin/pytest tests/infra/test_cluster_e2e.py -m cluster`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from rolloutlab.targets.kubernetes import KubernetesTarget

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(os.environ.get("ROLLOUTLAB_CLUSTER_TESTS") != "1",
                       reason="needs docker, kind, kubectl and pulumi; set ROLLOUTLAB_CLUSTER_TESTS=1"),
]
ROW = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
       0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]


def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(2)


@pytest.fixture(scope="module")
def cluster_lab(lab_home: Path):
    missing = [tool for tool in ("docker", "kind", "kubectl", "pulumi") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"ROLLOUTLAB_CLUSTER_TESTS=1 but {', '.join(missing)} not on PATH")
    for version in ("v1", "v2"):
        subprocess.run([sys.executable, "-m", "rolloutlab.cli", "models", "containerize", version], check=True)
    target = KubernetesTarget(lab_home, "kind")
    try:
        yield target, target.up(["v1", "v2"], ready_timeout=600, progress=print)
    finally:
        target.down(progress=print)


def test_predictions_go_to_the_baseline_and_the_header_reaches_the_candidate(cluster_lab) -> None:
    _, endpoints = cluster_lab
    answer = requests.post(f"{endpoints.router_url}/predict", json={"instances": [ROW]}, timeout=10)
    assert answer.status_code == 200 and answer.json()["version"] == "v1"
    forced = requests.post(f"{endpoints.router_url}/predict", json={"instances": [ROW]},
                           headers={"x-model-version": "v2"}, timeout=10)
    assert forced.json()["version"] == "v2"


def test_prometheus_scrapes_each_version_with_its_label(cluster_lab) -> None:
    _, endpoints = cluster_lab

    def counted() -> bool:
        query = 'sum by (version) (bentoml_service_request_total{job="model",endpoint="/predict"})'
        result = requests.get(f"{endpoints.prometheus_url}/api/v1/query", params={"query": query}, timeout=10)
        return {r["metric"].get("version") for r in result.json()["data"]["result"]} >= {"v1", "v2"}

    _until(counted, 60, "Prometheus reporting /predict requests of v1 and v2")


def test_in_cluster_locust_workers_send_load_through_the_gateway(cluster_lab) -> None:
    target, _ = cluster_lab
    target.start_load(users=5, spawn_rate=5, timeout=180)
    try:
        _until(lambda: target.load_stats().get("total_rps", 0) > 1, 90, "in-cluster load reaching 1 req/s")
        stats = target.load_stats()
        total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
        assert total["num_requests"] > 0 and total["num_failures"] == 0
        assert len(stats["workers"]) == 2
    finally:
        target.stop_load()
