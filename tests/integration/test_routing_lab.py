"""Routing on the real local lab: `bentoml serve` per version behind NGINX, Prometheus scraping, real load."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from scipy.stats import chisquare

from rolloutlab.journal import read_journal
from rolloutlab.routing import Mirror, RoutingState
from rolloutlab.targets.local import LocalTarget
from rolloutlab.targets.processes import stop
from rolloutlab.targets.programs import find_program
from tests.integration.conftest import rolloutlab

T = TypeVar("T")


def predict_body(home: Path) -> bytes:
    row = json.loads((home / "data" / "holdout.json").read_text())[0]["features"]
    return json.dumps({"instances": [row]}).encode()


def predict(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str, float]:
    """(status, version that answered or "", seconds)."""
    request = urllib.request.Request(f"{url}/predict", data=body,
                                     headers={"content-type": "application/json", **(headers or {})})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)["version"], time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, "", time.monotonic() - started


def prometheus(url: str, query: str) -> dict[str, float]:
    """An instant PromQL query: {version label: value}."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=5) as r:
        result = json.load(r)["data"]["result"]
    return {s["metric"].get("version", ""): float(s["value"][1]) for s in result}


def eventually(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 15.0) -> T:
    """probe() once done(value) holds, or its last value after timeout (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout
    while not done(value := probe()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def served_by(version_port: int) -> float:
    """Prediction requests a model server has answered, from its own /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{version_port}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r'^bentoml_service_request_total\{[^}]*endpoint="/predict"[^}]*\} (\S+)',
                                             text, re.M))


def test_blue_green_switch_under_200_rps_loses_no_request(home: Path, tmp_path: Path) -> None:
    target = LocalTarget(home)
    endpoints = target.up(["v1", "v2"])
    try:
        body = tmp_path / "body.json"
        body.write_bytes(predict_body(home))
        # 10 connections × 20 req/s for 16 s, while traffic switches v1 → v2 → v1 → v2.
        load = subprocess.Popen([find_program("hey"), "-z", "16s", "-c", "10", "-q", "20", "-t", "10", "-m", "POST",
                                 "-D", str(body), "-T", "application/json", f"{endpoints.router_url}/predict"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        router = target.router(by="test")
        for weights in ({"v1": 0, "v2": 100}, {"v1": 100, "v2": 0}, {"v1": 0, "v2": 100}):
            time.sleep(4)
            router.apply(RoutingState(weights, reason="blue-green switch"))
        report, _ = load.communicate(timeout=60)
        codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", report))
        assert "Error distribution" not in report, report
        assert list(codes) == ["200"], report
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))
        assert rate > 150, f"the load reached only {rate:.0f} req/s:\n{report}"

        # Prometheus (scraping the router's exporter) saw both versions serve, and the final state.
        prom = endpoints.prometheus_url
        served = eventually(lambda: prometheus(prom, 'sum by (version) (rolloutlab_router_requests_total{code="200"})'),
                            lambda counts: sum(counts.values()) >= int(codes["200"]))
        assert sum(served.values()) == int(codes["200"]), served  # the exporter counted every request hey made
        assert served["v1"] > 200 and served["v2"] > 200, served
        final = {"v1": 0.0, "v2": 1.0}
        assert eventually(lambda: prometheus(prom, "rolloutlab_routing_weight"), lambda w: w == final) == final
        assert eventually(lambda: prometheus(prom, "rolloutlab_routing_generation"), lambda g: g == {"": 3.0}) == {"": 3.0}

        # By hand: invalid states are refused and change nothing; valid ones are journalled.
        bad = rolloutlab("route", "set", "v1=50", "v3=50")
        assert bad.returncode == 1 and "'v3', which is not running (running: v1, v2)" in bad.stderr
        assert "Traceback" not in bad.stderr
        good = rolloutlab("route", "set", "v1=60", "v2=40", "--sticky", "--reason", "by hand")
        assert good.returncode == 0 and "applied routing generation 4: v1 60%, v2 40%" in good.stdout, good.stderr
        shown = json.loads(rolloutlab("route", "show", "--json").stdout)
        assert shown["served"]["generation"] == shown["state"]["generation"] == 4
        assert shown["applied"]["by"] == "route set" and shown["applied"]["reason"] == "by hand"
        journal = [(r["event"], r["generation"], r["by"]) for r in read_journal(home / "lab" / "routing-journal.jsonl")
                   if r["ts"] >= target.load_state().started_at]
        assert journal == [("routing_applied", 0, "up"), ("routing_applied", 1, "test"), ("routing_applied", 2, "test"),
                           ("routing_applied", 3, "test"), ("routing_rejected", 0, "route set"),
                           ("routing_applied", 4, "route set")]
    finally:
        target.down()


def test_header_forcing_stickiness_and_mirroring_on_model_servers(home: Path) -> None:
    target = LocalTarget(home)
    endpoints = target.up(["v1", "v2"])
    try:
        url, body, router = endpoints.router_url, predict_body(home), target.router(by="test")
        router.apply(RoutingState({"v1": 70, "v2": 30}, sticky=True))
        users = [f"user-{i}" for i in range(400)]
        with ThreadPoolExecutor(8) as pool:
            first = dict(zip(users, pool.map(lambda u: predict(url, body, {"x-user-id": u})[1], users)))
            again = dict(zip(users[:100], pool.map(lambda u: predict(url, body, {"x-user-id": u})[1], users[:100])))
        assert all(again[u] == first[u] for u in again)  # same user, same version
        split = Counter(first.values())
        assert chisquare([split["v1"], split["v2"]], [0.7 * len(users), 0.3 * len(users)]).pvalue > 0.001, split

        assert {predict(url, body, {"x-model-version": "v2", "x-user-id": "user-1"})[1] for _ in range(10)} == {"v2"}
        router.apply(RoutingState({"v1": 100}))  # v2 still runs, but is outside the state
        assert {predict(url, body, {"x-model-version": "v2"})[1] for _ in range(10)} == {"v1"}

        router.apply(RoutingState({"v1": 100, "v2": 0}, mirror=Mirror("v2", 50)))
        time.sleep(0.5)
        before = served_by(endpoints_port(target, "v2"))
        n = 300
        with ThreadPoolExecutor(6) as pool:
            answers = Counter(pool.map(lambda _: predict(url, body)[:2], range(n)))
        assert answers == {(200, "v1"): n}  # the client never sees the shadow's answer
        time.sleep(1)  # the last copies may still be in flight
        mirrored = served_by(endpoints_port(target, "v2")) - before
        assert abs(mirrored - n / 2) < 4 * (n / 4) ** 0.5, mirrored
        counted = eventually(lambda: prometheus(endpoints.prometheus_url,
                                                "sum by (version) (rolloutlab_router_mirrored_requests_total)"),
                             lambda c: c == {"v2": mirrored})
        assert counted == {"v2": mirrored}
    finally:
        target.down()


def endpoints_port(target: LocalTarget, version: str) -> int:
    state = target.load_state()
    assert state is not None
    return state.versions[version]


def send(url: str, path: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> tuple[int, str, dict]:
    """(status, content type, JSON body) of any answer, error or not; urllib sends `Connection: close`."""
    request = urllib.request.Request(f"{url}{path}", data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["content-type"], json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], json.loads(exc.read())


JSON = {"content-type": "application/json"}
BAD_REQUESTS = [  # path, body, headers, method → status, reason, answered by a version (else by NGINX)
    ("/predict", b"x" * (2 << 20), JSON, "POST", 413, "body_too_large", False),
    ("/predict", b"x" * (20 << 20), JSON, "POST", 413, "body_too_large", False),
    ("/predict", b'{"instances": [[1]]}', {"content-type": "text/plain"}, "POST", 415, "unsupported_media_type", True),
    ("/feedback", b'{"version": "v1", "reward": 1}', {}, "POST", 415, "unsupported_media_type", True),
    ("/predict", b"{not json", JSON, "POST", 400, "malformed_json", True),
    ("/predict", None, {}, "GET", 405, "method_not_allowed", True),
    ("/nope", None, {}, "GET", 404, "not_found", True),
    ("/predict", None, {}, "TRACE", 405, "method_not_allowed", False),
    ("/_rolloutlab/routing", b"{}", JSON, "POST", 405, "method_not_allowed", False),
]


def test_bad_requests_and_a_dead_version_get_json_errors_counted_per_version(home: Path) -> None:
    target = LocalTarget(home)
    endpoints = target.up(["v1", "v2"])
    try:
        url, body = endpoints.router_url, predict_body(home)
        target.router(by="test").apply(RoutingState({"v1": 50, "v2": 50}))
        for path, sent, headers, method, status, reason, by_version in BAD_REQUESTS:
            answer = send(url, path, sent, headers, method)
            assert answer[:2] == (status, "application/json"), (path, method, answer)
            assert answer[2]["reason"] == reason and answer[2]["error"], answer
            assert (answer[2]["version"] in ("v1", "v2")) == by_version, answer
        assert predict(url, body)[0] == 200  # after the batch the lab still serves

        state = target.load_state()
        stop(next(p for p in state.processes if p.name == "model v2"))  # v2's server dies
        answers = [predict(url, body) for _ in range(60)]
        assert Counter((status, version) for status, version, _ in answers) == {(200, "v1"): 30, (502, ""): 30}
        assert max(seconds for status, _, seconds in answers if status == 502) < 1.5  # refused, not hanging
        down = send(url, "/predict", body, {**JSON, "x-model-version": "v2", "x-request-id": "trace-v2-down"})
        assert down == (502, "application/json", {"error": down[2]["error"], "reason": "version_unreachable",
                                                  "version": "v2", "request_id": "trace-v2-down"})
        failures = eventually(
            lambda: prometheus(endpoints.prometheus_url, 'rolloutlab_router_upstream_failures_total{kind="connect"}'),
            lambda f: f == {"v1": 0.0, "v2": 31.0})
        assert failures == {"v1": 0.0, "v2": 31.0}
    finally:
        target.down()
