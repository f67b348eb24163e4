"""The Target contract (targets/base.py) on the local target, with real processes: what run/program.py asks of
any target — prepare (and "did this run start the lab?"), endpoints, router, metrics, prediction logs, retire,
teardown. The Kubernetes target's side of the same contract is on the control-plane testbed
(tests/testbed/test_run_on_testbed.py) and in tests/unit/test_target_contract.py. About 30 s."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from rolloutlab import zoo
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import load_scenario
from rolloutlab.targets.local import LocalTarget
from tests.integration.conftest import lab_processes


def test_the_local_target_offers_the_whole_run_contract(home: Path) -> None:
    scenario = load_scenario("canary-basic")
    target = LocalTarget(home, ready_timeout=120)
    assert target.prepare(scenario, lambda _: None) is True  # this run started the lab
    try:
        endpoints = target.endpoints()
        assert set(endpoints.versions) == {"v1", "v2"}
        assert target.describe()["router"] == endpoints.router_url
        row = json.loads(zoo.holdout_path().read_text(encoding="utf-8"))[0]
        router = target.router()
        router.apply(RoutingState({"v1": 0, "v2": 100}))
        answer = requests.post(f"{endpoints.router_url}/predict", json={"instances": [row["features"]]}, timeout=10)
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "v2"
        request_id = answer.json()["request_id"]
        log = target.prediction_log("v2")
        assert any(json.loads(line).get("request_id") == request_id for line in log.read_text().splitlines())
        deadline = time.monotonic() + 15  # a scrape or two
        while (up := target.metrics().query('sum(up{job="model"})')) != up or up < 2:
            assert time.monotonic() < deadline, f"Prometheus sees {up} model servers"
            time.sleep(1)
        # A second prepare finds the running lab: it did not start it, so retire leaves blue running.
        again = LocalTarget(home)
        assert again.prepare(scenario, lambda _: None) is False
        assert "left running: the lab was up before this run" in again.retire("v1")
        again.teardown(lambda _: None)
        assert target.running_state() is not None  # not its lab to stop
        assert target.retire("v1").startswith("stopped v1")
    finally:
        target.teardown(lambda _: None)
    assert lab_processes(home) == []
