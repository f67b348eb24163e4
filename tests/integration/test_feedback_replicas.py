"""Feedback with two replicas of one version: two real BentoML servers of v1 behind a real NGINX round-robin
upstream on 127.0.0.1 (what a version's Service does on a cluster), and the real Locust prediction user.

Pinned to the version, a label reaches either replica; only the one that answered remembers the request.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rolloutlab import zoo
from rolloutlab.load.locust_runner import LoadSpec, LocustRunner
from rolloutlab.targets.processes import ProcessRecord, free_port, http_ok, spawn, stop, wait_until_ready
from rolloutlab.targets.programs import find_program
from rolloutlab.zoo.server import ModelServer, start_server
from tests.integration.conftest import assert_no_leftovers, lab_processes

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream v1 {{ server {a}; server {b}; }}  # round-robin, as kube-proxy balances a Service
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://v1; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def replicas(lab_home: Path, built_models: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of NGINX in front of two v1 servers."""
    assert lab_processes(lab_home) == []
    workdir = tmp_path_factory.mktemp("replicas")
    catalogue = zoo.load_catalogue()
    servers: list[ModelServer] = []
    nginx: ProcessRecord | None = None
    try:
        servers = [start_server(catalogue, "v1", workdir / replica) for replica in ("a", "b")]
        wait_until_ready({f"v1/{i}": (s.record, s.url + "/readyz") for i, s in enumerate(servers)}, timeout=150)
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir, port=port, a=servers[0].url.removeprefix("http://"),
                                          b=servers[1].url.removeprefix("http://")))
        binary = find_program("nginx")
        subprocess.run([binary, "-t", "-c", str(conf), "-p", str(workdir)], check=True, capture_output=True)
        nginx = spawn("nginx (round-robin)", [binary, "-c", str(conf), "-p", str(workdir)], workdir / "nginx.log")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not http_ok(url + "/readyz"):
            assert time.monotonic() < deadline, (workdir / "error.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        if nginx is not None:
            stop(nginx)
        for server in servers:
            server.stop()
        assert_no_leftovers(lab_home)


def test_a_replica_that_did_not_answer_counts_the_label_from_the_answer_sent_back(replicas: str) -> None:
    row = json.loads(zoo.holdout_path().read_text())[0]
    answer = requests.post(f"{replicas}/predict", json={"instances": [row["features"]]}, timeout=10).json()
    label = {"request_id": answer["request_id"], "label": row["label"]}
    # Round-robin: of two labels in a row, one reaches the replica that never saw the request.
    outcomes = sorted(requests.post(f"{replicas}/feedback", json=label, timeout=10).status_code for _ in range(2))
    assert outcomes == [200, 404], "without the answer, the other replica cannot count the label (before the fix)"
    answer = requests.post(f"{replicas}/predict", json={"instances": [row["features"]]}, timeout=10).json()
    label = {"request_id": answer["request_id"], "label": row["label"], "predictions": answer["predictions"]}
    sent = [requests.post(f"{replicas}/feedback", json=label, timeout=10) for _ in range(4)]
    # Each replica counts it once: the one that answered from memory, the other from the answer sent back.
    assert [r.status_code for r in sent] == [200, 200, 409, 409]
    assert sent[0].json()["reward"] == float(answer["predictions"][0] == row["label"])


def test_load_with_two_replicas_loses_no_label(replicas: str, tmp_path: Path) -> None:
    spec = LoadSpec(host=replicas, holdout=zoo.holdout_path(), max_seconds=60, users=4, rate_per_user=5,
                    feedback_delay=0.5, duration=6)
    runner = LocustRunner(spec, tmp_path / "load")
    runner.start(probe=False)
    try:
        assert runner.wait(40), "the shape should end the run by itself"
    finally:
        runner.stop()
    snapshot = runner.final_metrics()
    assert snapshot is not None
    outcomes: dict[str, float] = {}
    for (_, outcome), count in snapshot.feedback.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + count
    assert outcomes.get("accepted", 0) >= 40, outcomes
    assert outcomes.get("unknown_request", 0) == 0, outcomes
