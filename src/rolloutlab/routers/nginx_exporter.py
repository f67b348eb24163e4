"""The local router process: NGINX as a child, plus the Prometheus exporter for what NGINX routes.

Open-source NGINX keeps no per-upstream counters, so the exporter reads NGINX's JSON access log
(one line per request, written by the config nginx_config renders) and counts, per version, the
requests, the connect failures and timeouts, and the latency as the client saw it. The routing
gauges come from the live NGINX itself (ROUTING_PATH), so they show the state actually served.
NGINX proxies METRICS_PATH to this exporter; Prometheus scrapes it there (job "router").

Run as `python -m rolloutlab.routers.nginx_exporter ...` by the local target: one process group
holds NGINX and its exporter, so the lab starts, watches and stops them together.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from rolloutlab.routers.nginx_config import ACCESS_LOG, ROUTING_PATH
from rolloutlab.routers.nginx_log import Routed, parse_line

BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0,
           2.5, 5.0, 10.0)
FAILURE_KINDS = ("connect", "timeout", "bad_response")


class LogTail:
    """Complete lines appended to a file since the last read; copes with the file not existing yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._inode: int | None = None
        self._partial = b""

    def read(self) -> list[str]:
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with handle:
            info = os.fstat(handle.fileno())
            if info.st_ino != self._inode or info.st_size < self._offset:  # new or truncated file
                self._inode, self._offset, self._partial = info.st_ino, 0, b""
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines if line]


class RouterStats:
    """Counters per version, fed with parsed access-log lines."""

    def __init__(self, versions: list[str]) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.mirrored: Counter[tuple[str, str]] = Counter()
        # Every version's failure series exist from the start, so increase() sees the first failure.
        self.failures: Counter[tuple[str, str]] = Counter({(v, k): 0 for v in versions for k in FAILURE_KINDS})
        self.buckets: dict[str, list[int]] = {}
        self.sums: Counter[str] = Counter()

    def observe(self, routed: Routed) -> None:
        if routed.failure:
            self.failures[(routed.version, routed.failure)] += 1
        if routed.route == "mirror":
            self.mirrored[(routed.version, str(routed.status))] += 1
            return
        self.requests[(routed.version, routed.route, str(routed.status))] += 1
        counts = self.buckets.setdefault(routed.version, [0] * (len(BUCKETS) + 1))
        for index, bound in enumerate(BUCKETS):
            if routed.seconds <= bound:
                counts[index] += 1
        counts[-1] += 1
        self.sums[routed.version] += routed.seconds


class RouterCollector(Collector):
    """Reads the new access-log lines at each scrape and reports counters and the live routing state."""

    def __init__(self, log: Path, ports: dict[int, str], routing_url: str) -> None:
        self.tail = LogTail(log)
        self.ports = ports
        self.routing_url = routing_url
        self.stats = RouterStats(sorted(ports.values()))
        self._lock = threading.Lock()

    def drain(self) -> None:
        for line in self.tail.read():
            routed = parse_line(line, self.ports)
            if routed is not None:
                self.stats.observe(routed)

    def _routing(self) -> dict | None:
        try:
            with urllib.request.urlopen(self.routing_url, timeout=1.0) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self.drain()
            yield from self._counters()
        routing = self._routing()
        up = GaugeMetricFamily("rolloutlab_router_up", "1 if NGINX answered with its routing state")
        up.add_metric([], 1 if routing else 0)
        yield up
        if routing:
            yield from _routing_gauges(routing)

    def _counters(self) -> Iterator[Metric]:
        s = self.stats
        requests = CounterMetricFamily("rolloutlab_router_requests", "Requests routed, by version, route and HTTP status",
                                       labels=["version", "route", "code"])
        for (version, route, code), n in sorted(s.requests.items()):
            requests.add_metric([version, route, code], n)
        failures = CounterMetricFamily(
            "rolloutlab_router_upstream_failures",
            "Requests a version did not answer: connect (refused/reset), timeout, bad_response", labels=["version", "kind"])
        for (version, kind), n in sorted(s.failures.items()):
            failures.add_metric([version, kind], n)
        mirrored = CounterMetricFamily("rolloutlab_router_mirrored_requests",
                                       "Copies sent to the shadow version (responses dropped)", labels=["version", "code"])
        for (version, code), n in sorted(s.mirrored.items()):
            mirrored.add_metric([version, code], n)
        latency = HistogramMetricFamily("rolloutlab_router_request_duration_seconds",
                                        "Request time at the router, by version", labels=["version"])
        for version, counts in sorted(s.buckets.items()):
            bounds = [*(f"{b:g}" for b in BUCKETS), "+Inf"]
            latency.add_metric([version], list(zip(bounds, counts)), s.sums[version])
        yield from (requests, failures, mirrored, latency)


def _routing_gauges(routing: dict) -> Iterator[Metric]:
    weights = routing.get("weights") or {}
    total = sum(weights.values()) or 1
    weight = GaugeMetricFamily("rolloutlab_routing_weight", "Share (0..1) of weighted traffic per version", labels=["version"])
    for version, w in sorted(weights.items()):
        weight.add_metric([version], w / total)
    generation = GaugeMetricFamily("rolloutlab_routing_generation", "Routing generation NGINX serves now")
    generation.add_metric([], routing.get("generation", 0))
    mirror = GaugeMetricFamily("rolloutlab_routing_mirror_share", "Share (0..1) of weighted requests copied to the shadow",
                               labels=["version"])
    if routing.get("mirror"):
        mirror.add_metric([routing["mirror"]["version"]], routing["mirror"]["percent"] / 100)
    sticky = GaugeMetricFamily("rolloutlab_routing_sticky", "1 if requests with a user key stick to a version")
    sticky.add_metric([], 1 if routing.get("sticky") else 0)
    yield from (weight, generation, mirror, sticky)


def _backends(pairs: list[str]) -> dict[int, str]:
    ports = {}
    for pair in pairs:
        version, _, port = pair.partition("=")
        ports[int(port)] = version
    return ports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nginx", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--listen-port", type=int, required=True, help="NGINX's port (for the routing state)")
    parser.add_argument("--metrics-port", type=int, required=True, help="this exporter's port on 127.0.0.1")
    parser.add_argument("--backend", action="append", default=[], metavar="VERSION=PORT")
    args = parser.parse_args(argv)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RouterCollector(args.workdir / ACCESS_LOG, _backends(args.backend),
                                      f"http://127.0.0.1:{args.listen_port}{ROUTING_PATH}"))
    server, _ = start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
    nginx = subprocess.Popen([args.nginx, "-p", str(args.workdir), "-c", str(args.workdir / "nginx.conf")])
    # NGINX stops with us: TERM is its fast shutdown, as when the lab stops its process group.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: nginx.send_signal(signal.SIGTERM))
    code = nginx.wait()
    server.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
