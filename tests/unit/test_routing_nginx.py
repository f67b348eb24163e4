"""NginxRouter on a real NGINX (with its exporter), in front of stub upstreams, for the routing semantics.

The upstreams are NGINX server blocks answering with their version name: the semantics need
thousands of requests (exact splits, chi-square over many users), which BentoML servers would make
slow. The same behaviours are checked against real `bentoml serve` versions in
tests/integration/test_routing_lab.py.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import chisquare

from rolloutlab.errors import RoutingError
from rolloutlab.routers.nginx import NginxRouter, served_generation, served_state, write_config
from rolloutlab.routers.nginx_config import METRICS_PATH, NginxLayout
from rolloutlab.routing import HeaderRule, Mirror, RoutingState, preview_rule
from rolloutlab.targets.processes import ProcessRecord, free_port, http_ok, spawn, stop
from rolloutlab.targets.programs import find_program
from tests.settle import settled

VERSIONS = ("v1", "v2", "v3")


@dataclass
class Stubs:
    ports: dict[str, int]
    logs: Path

    def hits(self, version: str) -> int:
        path = self.logs / f"{version}.log"
        return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for(url: str, record: ProcessRecord, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not http_ok(url, timeout=0.5):
        assert time.monotonic() < deadline, f"{url} not ready; see {record.log}: {Path(record.log).read_text()[-2000:]}"
        time.sleep(0.05)


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[Stubs]:
    work = tmp_path / "stubs"
    (work / "tmp").mkdir(parents=True)
    ports = {v: free_port() for v in VERSIONS}
    servers = "\n".join(
        f"server {{ listen 127.0.0.1:{port}; access_log {work}/{v}.log; location / {{ return 200 '{v}'; }} }}"
        for v, port in ports.items()
    )
    (work / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/error.log warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ client_body_temp_path {work}/tmp; {servers} }}\n"
    )
    record = spawn("stubs", [find_program("nginx"), "-p", str(work), "-c", str(work / "nginx.conf")], work / "out.log")
    try:
        for port in ports.values():
            wait_for(f"http://127.0.0.1:{port}/", record)
        yield Stubs(ports, work)
    finally:
        stop(record)


def start_router(tmp_path: Path, backends: dict[str, int], initial: RoutingState,
                 read_timeout_s: float = 10.0) -> tuple[NginxRouter, ProcessRecord]:
    """NGINX under its exporter, as the local target runs it."""
    layout = NginxLayout(free_port(), tmp_path / "router", backends, metrics_port=free_port(), read_timeout_s=read_timeout_s)
    nginx = find_program("nginx")
    write_config(nginx, initial, layout)
    record = spawn("router", [
        sys.executable, "-m", "rolloutlab.routers.nginx_exporter", "--nginx", nginx, "--workdir", str(layout.workdir),
        "--listen-port", str(layout.listen_port), "--metrics-port", str(layout.metrics_port),
        *[f"--backend={v}={p}" for v, p in backends.items()],
    ], tmp_path / "router.log")
    wait_for(f"http://127.0.0.1:{layout.listen_port}{METRICS_PATH}", record)
    return NginxRouter(nginx, layout), record


@pytest.fixture
def router(tmp_path: Path, stubs: Stubs) -> Iterator[NginxRouter]:
    router, record = start_router(tmp_path, stubs.ports, RoutingState({"v1": 100, "v2": 0}))
    try:
        yield router
    finally:
        stop(record)


def ask(router: NginxRouter, headers: dict[str, str] | None = None, path: str = "/predict",
        method: str = "POST") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", router.layout.listen_port, timeout=30)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def versions_seen(router: NginxRouter, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    return Counter(ask(router, headers)[1] for _ in range(n))


def metrics(router: NginxRouter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = ask(router, path=METRICS_PATH, method="GET")[1]
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples
                if not s.name.endswith("_created")}

    return settled(read)


def test_weighted_split_is_exact(router: NginxRouter) -> None:
    router.apply(RoutingState({"v1": 3, "v2": 1}))
    assert versions_seen(router, 400) == {"v1": 300, "v2": 100}


def test_version_header_reaches_only_versions_of_the_state(router: NginxRouter) -> None:
    router.apply(RoutingState({"v1": 100, "v2": 0}))
    assert versions_seen(router, 20, {"x-model-version": "v2"}) == {"v2": 20}
    assert versions_seen(router, 20, {"x-model-version": "v1"}) == {"v1": 20}
    # v3 runs, but the state does not name it: the header cannot reach it, the weights decide.
    assert versions_seen(router, 20, {"x-model-version": "v3"}) == {"v1": 20}
    assert versions_seen(router, 20, {"x-model-version": "nonsense/../x"}) == {"v1": 20}


def test_header_rules_in_order_and_after_the_version_header(router: NginxRouter) -> None:
    router.apply(RoutingState({"v1": 100, "v2": 0, "v3": 0},
                              rules=(preview_rule("v2"), HeaderRule("x-beta", "default", "v3"))))
    assert versions_seen(router, 10, {"x-rolloutlab-preview": "1"}) == {"v2": 10}
    assert versions_seen(router, 10, {"x-rolloutlab-preview": "0"}) == {"v1": 10}
    assert versions_seen(router, 10, {"x-beta": "default"}) == {"v3": 10}
    assert versions_seen(router, 10, {"x-rolloutlab-preview": "1", "x-beta": "default"}) == {"v2": 10}
    assert versions_seen(router, 10, {"x-rolloutlab-preview": "1", "x-model-version": "v1"}) == {"v1": 10}


def test_sticky_assignment_is_stable_and_split_like_the_weights(router: NginxRouter) -> None:
    router.apply(RoutingState({"v1": 70, "v2": 30}, sticky=True))
    users = [f"user-{i}" for i in range(2000)]
    first = {u: ask(router, {"x-user-id": u})[1] for u in users}
    counts = Counter(first.values())
    assert set(counts) == {"v1", "v2"}
    assert chisquare([counts["v1"], counts["v2"]], [0.7 * len(users), 0.3 * len(users)]).pvalue > 0.001
    sample = users[:300]
    assert all(ask(router, {"x-user-id": u})[1] == first[u] for u in sample)
    assert all(ask(router, {"cookie": f"rolloutlab_user={u}"})[1] == first[u] for u in sample[:100])
    # A new generation with the same weights keeps every user where they were.
    router.apply(RoutingState({"v1": 70, "v2": 30}, sticky=True, reason="unrelated change"))
    assert all(ask(router, {"x-user-id": u})[1] == first[u] for u in sample)
    # Without a user key the weights apply request by request.
    assert versions_seen(router, 100) == {"v1": 70, "v2": 30}
    # When v2 grows, its users stay on it; only v1 users move.
    router.apply(RoutingState({"v1": 50, "v2": 50}, sticky=True))
    after = {u: ask(router, {"x-user-id": u})[1] for u in users}
    assert all(after[u] == "v2" for u in users if first[u] == "v2")
    moved = sum(1 for u in users if first[u] == "v1" and after[u] == "v2")
    assert chisquare([moved, counts["v1"] - moved], [counts["v1"] * 2 / 7, counts["v1"] * 5 / 7]).pvalue > 0.001


def test_mirror_sends_a_share_to_the_shadow_and_drops_its_answers(router: NginxRouter, stubs: Stubs) -> None:
    router.apply(RoutingState({"v1": 100}, mirror=Mirror("v3", 30)))
    before = stubs.hits("v3")
    n = 1000
    assert versions_seen(router, n) == {"v1": n}  # the client never sees the shadow's answer
    mirrored = settled(lambda: stubs.hits("v3")) - before  # the last copies may still be in flight
    assert abs(mirrored - 0.3 * n) < 4 * (n * 0.3 * 0.7) ** 0.5, mirrored
    assert versions_seen(router, 100, {"x-model-version": "v1"}) == {"v1": 100}
    assert settled(lambda: stubs.hits("v3")) - before == mirrored  # requests forced by header are not copied
    counted = metrics(router)
    assert sum(v for (name, labels), v in counted.items()
               if name == "rolloutlab_router_mirrored_requests_total" and ("version", "v3") in labels) == mirrored
    assert counted[("rolloutlab_routing_mirror_share", (("version", "v3"),))] == 0.3


def test_dead_and_hung_versions_fail_fast_and_are_counted(tmp_path: Path, stubs: Stubs) -> None:
    dead = free_port()  # nothing listens: connection refused
    with socket.socket() as hung:  # listens, never answers: the read times out
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        backends = {"v1": stubs.ports["v1"], "v2": dead, "v3": hung.getsockname()[1]}
        router, record = start_router(tmp_path, backends, RoutingState({"v1": 1, "v2": 1}), read_timeout_s=1)
        try:
            started = time.monotonic()
            answers = [ask(router) for _ in range(40)]
            assert time.monotonic() - started < 10
            assert Counter(status for status, _ in answers) == {200: 20, 502: 20}
            router.apply(RoutingState({"v1": 1, "v2": 0, "v3": 0}))
            started = time.monotonic()
            assert ask(router, {"x-model-version": "v3"})[0] == 504
            assert 0.9 < time.monotonic() - started < 5
            counted = metrics(router)
        finally:
            stop(record)
    assert counted[("rolloutlab_router_upstream_failures_total", (("kind", "connect"), ("version", "v2")))] == 20
    assert counted[("rolloutlab_router_upstream_failures_total", (("kind", "timeout"), ("version", "v3")))] == 1
    assert counted[("rolloutlab_router_upstream_failures_total", (("kind", "connect"), ("version", "v1")))] == 0
    assert counted[("rolloutlab_router_requests_total", (("code", "502"), ("route", "weighted"), ("version", "v2")))] == 20
    assert counted[("rolloutlab_routing_weight", (("version", "v1"),))] == 1.0


def test_changes_under_keep_alive_load_lose_no_request(router: NginxRouter, tmp_path: Path) -> None:
    """Clients keep their connections alive; 20 reloads while two load patterns run lose nothing.

    Without the drain, a reload cuts idle keep-alive connections and POSTs sent on them fail
    (13 in 50 reloads at 200 req/s when measured).
    """
    body = tmp_path / "body.json"
    body.write_text("{}")
    url = f"http://127.0.0.1:{router.layout.listen_port}/predict"
    common = ["-z", "10s", "-m", "POST", "-D", str(body), "-T", "application/json", "-t", "10"]
    loads = [subprocess.Popen([find_program("hey"), *common, "-c", c, "-q", q, url], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for c, q in (("10", "20"), ("4", "150"))]  # 200 req/s on idle-ish connections; 600 req/s on busy ones
    time.sleep(1)
    for i in range(20):
        router.apply(RoutingState({"v1": 100 - 5 * i, "v2": 5 * i}))
        time.sleep(0.3)
    for load in loads:
        report, _ = load.communicate(timeout=60)
        assert "Error distribution" not in report, report
        assert re.findall(r"\[(\d+)\]\s+\d+ responses", report) == ["200"], report
        assert int(re.search(r"\[200\]\s+(\d+) responses", report).group(1)) > 1000


def test_exporter_reports_the_live_state(router: NginxRouter) -> None:
    router.apply(RoutingState({"v1": 1, "v2": 3}, sticky=True))
    counted = metrics(router)
    assert counted[("rolloutlab_routing_weight", (("version", "v2"),))] == 0.75
    assert counted[("rolloutlab_routing_generation", ())] == router.current().generation == 1
    assert counted[("rolloutlab_routing_sticky", ())] == 1
    assert counted[("rolloutlab_router_up", ())] == 1


def test_invalid_states_leave_the_previous_one_in_force(router: NginxRouter) -> None:
    good = router.apply(RoutingState({"v1": 50, "v2": 50}))
    with pytest.raises(RoutingError, match="not running"):
        router.apply(RoutingState({"v1": 50, "v9": 50}))
    broken = NginxRouter(router.nginx, NginxLayout(**{**router.layout.__dict__, "read_timeout_s": -1}))
    with pytest.raises(RoutingError, match="nginx rejected the rendered config"):
        broken.apply(RoutingState({"v1": 100}))
    assert served_generation(router.layout.listen_port) == good.generation
    assert router.current() == good
    assert versions_seen(router, 10) == {"v1": 5, "v2": 5}


def test_a_reload_that_cannot_happen_restores_the_previous_state(router: NginxRouter) -> None:
    good = router.apply(RoutingState({"v1": 50, "v2": 50}))
    config = (router.layout.workdir / "nginx.conf").read_text()
    not_nginx = NginxRouter(router.nginx, router.layout, master_pid=threading.get_native_id())
    with pytest.raises(RoutingError, match=r"is not running.*kept v1 50%, v2 50%"):
        not_nginx.apply(RoutingState({"v2": 100}))
    assert router.current() == good
    assert (router.layout.workdir / "nginx.conf").read_text() == config
    assert served_generation(router.layout.listen_port) == good.generation


def test_concurrent_changes_are_serialised(router: NginxRouter) -> None:
    applied: list[int] = []

    def change(weight: int) -> None:
        applied.append(router.apply(RoutingState({"v1": weight, "v2": 100 - weight})).generation)

    threads = [threading.Thread(target=change, args=(w,)) for w in (10, 20, 30, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(applied) == [1, 2, 3, 4]
    assert served_generation(router.layout.listen_port) == router.current().generation == 4


def test_control_paths_cannot_change_or_reach_anything(router: NginxRouter) -> None:
    assert ask(router, path="/_rolloutlab/routing", method="POST")[0] == 405
    assert ask(router, path=METRICS_PATH, method="POST")[0] == 405
    assert ask(router, path="/_rolloutlab/mirror", method="GET")[0] == 404
    assert ask(router, path="/_rolloutlab/anything", method="GET")[0] == 404
    state = json.loads(ask(router, path="/_rolloutlab/routing", method="GET")[1])
    assert state == served_state(router.layout.listen_port) and state["weights"] == {"v1": 100, "v2": 0}


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (malformed on purpose); (status, lower-cased headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_the_routers_own_errors_are_json_naming_the_problem_version_and_request_id(tmp_path: Path,
                                                                                  stubs: Stubs) -> None:
    dead = free_port()
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        backends = {"v1": stubs.ports["v1"], "v2": dead, "v3": hung.getsockname()[1]}
        router, record = start_router(tmp_path, backends, RoutingState({"v1": 1, "v2": 0, "v3": 0}), read_timeout_s=1)
        port = router.layout.listen_port
        head = "Host: 127.0.0.1\r\nConnection: close\r\n"
        big = b"x" * (2 * 1024 * 1024)
        cases = {  # what was sent → (status, reason, version tried)
            "body over the limit": (f"POST /predict HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
                                    f"Content-Length: {len(big)}\r\n\r\n".encode() + big, 413, "body_too_large", None),
            "chunked body over the limit": (f"POST /predict HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n"
                                            f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n",
                                            413, "body_too_large", None),
            "not HTTP": (b"BLAH\r\n\r\n", 400, "bad_request", None),
            "bad header": (f"GET /predict HTTP/1.1\r\n{head}Bad Header: x\r\n\r\n".encode(), 400, "bad_request", None),
            "huge header": (f"GET /predict HTTP/1.1\r\n{head}X-Big: {'a' * 9000}\r\n\r\n".encode(),
                            400, "headers_too_large", None),
            "huge URI": (f"GET /{'a' * 9000} HTTP/1.1\r\n{head}\r\n".encode(), 414, "uri_too_long", None),
            "unknown transfer-encoding": (f"POST /predict HTTP/1.1\r\n{head}Transfer-Encoding: gzip\r\n\r\n".encode(),
                                          501, "not_implemented", None),
            "TRACE": (f"TRACE /predict HTTP/1.1\r\n{head}\r\n".encode(), 405, "method_not_allowed", None),
            "POST to a read-only path": (f"POST /_rolloutlab/routing HTTP/1.1\r\n{head}Content-Length: 0\r\n\r\n".encode(),
                                         405, "method_not_allowed", None),
            "unknown router path": (f"GET /_rolloutlab/nothing HTTP/1.1\r\n{head}\r\n".encode(), 404, "not_found", None),
            "the error pages themselves": (f"GET /_rolloutlab/error/502 HTTP/1.1\r\n{head}\r\n".encode(),
                                           404, "not_found", None),
            "version down": (f"POST /predict HTTP/1.1\r\n{head}x-model-version: v2\r\n"
                             "x-request-id: trace-down-0001\r\nContent-Length: 2\r\n\r\n{}".encode(),
                             502, "version_unreachable", "v2"),
            "version too slow": (f"POST /predict HTTP/1.1\r\n{head}x-model-version: v3\r\nContent-Length: 2\r\n\r\n{{}}"
                                 .encode(), 504, "version_timeout", "v3"),
        }
        try:
            answers = {name: raw_exchange(port, sent) for name, (sent, *_) in cases.items()}
            good = ask(router)
            counted = metrics(router)
        finally:
            stop(record)
    for name, (_, status, reason, version) in cases.items():
        got_status, headers, body = answers[name]
        assert (got_status, headers.get("content-type")) == (status, "application/json"), (name, answers[name])
        error = json.loads(body)
        assert error["reason"] == reason and error["version"] == version and error["error"], (name, error)
        assert error["request_id"] == headers["x-request-id"] and re.fullmatch(r"[0-9a-f]{32}|trace-down-0001",
                                                                             error["request_id"]), (name, error)
    assert answers["version down"][2].count(b"trace-down-0001") == 1  # the caller's id, not a new one
    assert "1048576 bytes (1024 KiB)" in json.loads(answers["body over the limit"][2])["error"]
    assert "read 1s" in json.loads(answers["version too slow"][2])["error"]
    assert good == (200, "v1")  # after the batch the router still serves
    assert counted[("rolloutlab_router_upstream_failures_total", (("kind", "connect"), ("version", "v2")))] == 1
    assert counted[("rolloutlab_router_upstream_failures_total", (("kind", "timeout"), ("version", "v3")))] == 1
    assert counted[("rolloutlab_router_requests_total", (("code", "413"), ("route", "weighted"), ("version", "none")))] == 2


def test_an_oversized_body_from_a_client_that_reads_only_after_sending_gets_the_413(router: NginxRouter) -> None:
    """urllib sends `Connection: close` and reads nothing before its whole body is sent: no reset, the JSON 413."""
    request = urllib.request.Request(f"http://127.0.0.1:{router.layout.listen_port}/predict", data=b"x" * (20 << 20),
                                     headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413 and caught.value.headers["content-type"] == "application/json"
    assert json.loads(caught.value.read())["reason"] == "body_too_large"
    assert ask(router) == (200, "v1")
