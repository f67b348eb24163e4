"""The router exporter's log reading and counting, and the router factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from rolloutlab.errors import RoutingError
from rolloutlab.k8s_names import K8sNames
from rolloutlab.routers.factory import kubernetes_router
from rolloutlab.routers.gateway_api import GatewayApiRouter
from rolloutlab.routers.nginx_exporter import BUCKETS, LogTail, RouterCollector
from rolloutlab.routers.nginx_log import NO_VERSION, parse_line
from rolloutlab.routers.service_selector import ServiceSelectorRouter

PORTS = {9001: "v1", 9002: "v2"}


def line(status: int, upstream: str, connect: str = "0.000", route: str = "weighted", seconds: str = "0.004") -> str:
    return json.dumps({"ts": "1.0", "status": str(status), "route": route, "upstream": upstream,
                       "upstream_status": str(status), "request_time": seconds, "upstream_time": seconds,
                       "connect_time": connect})


@pytest.mark.parametrize(
    ("text", "version", "failure"),
    [
        (line(200, "127.0.0.1:9001"), "v1", None),
        (line(500, "127.0.0.1:9002"), "v2", None),  # the model server's own error: not a router failure
        (line(502, "127.0.0.1:9002", connect="-"), "v2", "connect"),
        (line(502, "127.0.0.1:9002", connect="0.001"), "v2", "bad_response"),
        (line(504, "127.0.0.1:9001", connect="0.000"), "v1", "timeout"),
        (line(504, "127.0.0.1:9001", connect="-"), "v1", "timeout"),
        (line(404, "-"), NO_VERSION, None),
        (line(200, "127.0.0.1:9999"), NO_VERSION, None),
        (line(502, "127.0.0.1:9001, 127.0.0.1:9002", connect="0.000, -"), "v2", "connect"),
    ],
)
def test_each_line_names_the_version_and_how_it_failed(text: str, version: str, failure: str | None) -> None:
    routed = parse_line(text, PORTS)
    assert routed is not None and (routed.version, routed.failure) == (version, failure)


def test_lines_that_are_not_ours_are_skipped() -> None:
    assert parse_line("GET / HTTP/1.1 200", PORTS) is None
    assert parse_line('{"status": "abc"}', PORTS) is None


def test_log_tail_returns_complete_lines_once_and_follows_a_new_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    tail = LogTail(log)
    assert tail.read() == []  # NGINX has not created it yet
    log.write_text("one\ntw")
    assert tail.read() == ["one"]
    with log.open("a") as f:
        f.write("o\nthree\n")
    assert tail.read() == ["two", "three"]
    assert tail.read() == []
    log.unlink()
    log.write_text("fresh\n")
    assert tail.read() == ["fresh"]


def test_collector_counts_per_version_and_reports_nginx_down(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join([
        line(200, "127.0.0.1:9001", seconds="0.002"), line(200, "127.0.0.1:9001", seconds="0.5"),
        line(502, "127.0.0.1:9002", connect="-"), line(200, "127.0.0.1:9002", route="mirror"),
    ]) + "\n")
    collector = RouterCollector(log, PORTS, "http://127.0.0.1:9/_rolloutlab/routing")  # nothing listens on 9
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in collector.collect() for s in m.samples}
    assert samples[("rolloutlab_router_requests_total", (("code", "200"), ("route", "weighted"), ("version", "v1")))] == 2
    assert samples[("rolloutlab_router_upstream_failures_total", (("kind", "connect"), ("version", "v2")))] == 1
    assert samples[("rolloutlab_router_upstream_failures_total", (("kind", "timeout"), ("version", "v1")))] == 0
    assert samples[("rolloutlab_router_mirrored_requests_total", (("code", "200"), ("version", "v2")))] == 1
    assert samples[("rolloutlab_router_request_duration_seconds_bucket", (("le", "0.002"), ("version", "v1")))] == 1
    assert samples[("rolloutlab_router_request_duration_seconds_bucket", (("le", "+Inf"), ("version", "v1")))] == 2
    assert samples[("rolloutlab_router_request_duration_seconds_sum", (("version", "v1"),))] == pytest.approx(0.502)
    assert samples[("rolloutlab_router_up", ())] == 0
    assert not any(name == "rolloutlab_routing_weight" for name, _ in samples)
    assert list(BUCKETS) == sorted(BUCKETS)


def test_factory_picks_the_kubernetes_router_by_name() -> None:
    api_client = client.ApiClient()
    assert isinstance(kubernetes_router("gateway-api", K8sNames(), ["v1"], api_client), GatewayApiRouter)
    assert isinstance(kubernetes_router("service-selector", K8sNames(), ["v1"], api_client), ServiceSelectorRouter)
    with pytest.raises(RoutingError, match="unknown Kubernetes router 'istio'; choose one of gateway-api, service-selector"):
        kubernetes_router("istio", K8sNames(), ["v1"], api_client)


def test_factory_without_kubeconfig_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    with pytest.raises(RoutingError, match=r"no usable kubeconfig for context \(current\)"):
        kubernetes_router("gateway-api", K8sNames(), ["v1"])
