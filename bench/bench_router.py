"""Benchmark: what the NGINX router adds in front of a model server — latency (p50, p99) and max throughput.

Starts a lab with one model version (`bentoml serve` v1, the NGINX router with its exporter,
Prometheus scraping both, as in every experiment) and loads it with `hey`, side by side in one run:

  direct         the model server, keep-alive connections (the best a client can do)
  direct, close  the model server, a new connection per request
  routed         through NGINX (which closes client connections after each answer, for lossless reloads)

Latency at a fixed moderate rate and throughput with an unlimited closed loop, in interleaved rounds
so drift on a shared machine hits all paths alike. Then the router's own capacity: the same NGINX
config in front of a stub upstream (NGINX answering a fixed body), which shows how far the router
is from being the bottleneck. Prints the figures and the ratios; target: < 0.5 ms added at p50,
and the router never the bottleneck before the model server.

    .venv/bin/python bench/bench_router.py [--seconds 8] [--rounds 3] [--rate 100] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rolloutlab.errors import RolloutLabError
from rolloutlab.paths import lab_home
from rolloutlab.routers.nginx import write_config
from rolloutlab.routers.nginx_config import METRICS_PATH, NginxLayout
from rolloutlab.routing import RoutingState
from rolloutlab.targets.local import LocalTarget
from rolloutlab.targets.processes import free_port, http_ok, spawn, stop
from rolloutlab.targets.programs import find_program

HEY = find_program("hey")  # bootstrap installs it; a clear error names the package otherwise


def hey(url: str, body: Path, seconds: float, concurrency: int, rate_per_worker: float | None,
        keepalive: bool = True) -> tuple[list[float], int]:
    """Latencies (ms) of the successful requests, and how many failed."""
    argv = [HEY, "-z", f"{seconds:g}s", "-c", str(concurrency), "-m", "POST", "-D", str(body),
            "-T", "application/json", "-o", "csv", "-t", "10"]
    if rate_per_worker:
        argv += ["-q", f"{rate_per_worker:g}"]
    if not keepalive:
        argv.append("-disable-keepalive")
    out = subprocess.run([*argv, f"{url}/predict"], capture_output=True, text=True, timeout=seconds + 60).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    ok = [1000 * float(r["response-time"]) for r in rows if r["status-code"] == "200"]
    return ok, len(rows) - len(ok)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def rps(url: str, body: Path, seconds: float, concurrency: int) -> tuple[float, int]:
    ok, bad = hey(url, body, seconds, concurrency, None)
    return len(ok) / seconds, bad


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while not http_ok(url):
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not come up")
        time.sleep(0.05)


def router_capacity(work: Path, body: Path, seconds: float, concurrency: int) -> tuple[float, float]:
    """Max req/s of a stub upstream, direct and through the router's NGINX config (with its exporter)."""
    nginx = find_program("nginx")
    (work / "stub" / "tmp").mkdir(parents=True)
    stub_port = free_port()
    (work / "stub" / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {work}/stub/nginx.pid; error_log {work}/stub/error.log warn;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{ access_log off; client_body_temp_path {work}/stub/tmp; server {{ listen 127.0.0.1:{stub_port}; "
        f"location / {{ return 200 '{{\"predictions\":[0],\"version\":\"stub\"}}'; }} }} }}\n")
    layout = NginxLayout(free_port(), work / "router", {"stub": stub_port}, metrics_port=free_port())
    write_config(nginx, RoutingState({"stub": 1}), layout)
    stub = spawn("stub", [nginx, "-p", str(work / "stub"), "-c", str(work / "stub" / "nginx.conf")], work / "stub.log")
    router = spawn("router", [sys.executable, "-m", "rolloutlab.routers.nginx_exporter", "--nginx", nginx,
                              "--workdir", str(layout.workdir), "--listen-port", str(layout.listen_port),
                              "--metrics-port", str(layout.metrics_port), f"--backend=stub={stub_port}"],
                   work / "router.log")
    try:
        wait_for(f"http://127.0.0.1:{stub_port}/")
        wait_for(f"http://127.0.0.1:{layout.listen_port}{METRICS_PATH}")
        direct, routed = [], []
        for _ in range(2):
            direct.append(rps(f"http://127.0.0.1:{stub_port}", body, seconds, concurrency)[0])
            routed.append(rps(f"http://127.0.0.1:{layout.listen_port}", body, seconds, concurrency)[0])
        return max(direct), max(routed)
    finally:
        stop(router)
        stop(stub)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path")
    parser.add_argument("--rate", type=float, default=100.0, help="req/s for the latency rounds")
    parser.add_argument("--concurrency", type=int, default=32, help="connections for the throughput runs")
    args = parser.parse_args()

    target = LocalTarget(lab_home() / "bench-router")
    print("starting the lab (v1 + NGINX + Prometheus) ...", flush=True)
    endpoints = target.up(["v1"], progress=lambda m: print(f"  {m}", flush=True))
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body.json"
        try:
            target.router(by="bench").apply(RoutingState({"v1": 100}, reason="bench"))
            holdout = json.loads((lab_home() / "data" / "holdout.json").read_text())
            body.write_text(json.dumps({"instances": [holdout[0]["features"]]}))
            paths = {"direct": (endpoints.versions["v1"], True), "direct, close": (endpoints.versions["v1"], False),
                     "routed": (endpoints.router_url, True)}
            for url, keepalive in paths.values():  # warm up every path
                hey(url, body, 2, 4, None, keepalive)

            latencies: dict[str, list[float]] = {name: [] for name in paths}
            failed: dict[str, int] = dict.fromkeys(paths, 0)
            throughput: dict[str, list[float]] = {"direct": [], "routed": []}
            for round_ in range(args.rounds):
                for name, (url, keepalive) in paths.items():
                    print(f"round {round_ + 1}/{args.rounds}: latency, {name} at {args.rate:g} req/s", flush=True)
                    ok, bad = hey(url, body, args.seconds, 4, args.rate / 4, keepalive)
                    latencies[name] += ok
                    failed[name] += bad
                for name in throughput:
                    print(f"round {round_ + 1}/{args.rounds}: throughput, {name}, {args.concurrency} connections",
                          flush=True)
                    achieved, bad = rps(paths[name][0], body, args.seconds, args.concurrency)
                    throughput[name].append(achieved)
                    failed[name] += bad
        finally:
            target.down()
        print("router capacity: the same config in front of a stub upstream", flush=True)
        stub_direct, stub_routed = router_capacity(Path(tmp), body, args.seconds, args.concurrency)

    print("\npath            requests  failed   p50 ms   p99 ms   max req/s (median of rounds)")
    for name, values in latencies.items():
        best = f"{statistics.median(throughput[name]):>10.0f}" if name in throughput else f"{'':>10}"
        print(f"{name:<14} {len(values):>9} {failed[name]:>7} {percentile(values, 0.5):>8.2f} "
              f"{percentile(values, 0.99):>8.2f} {best}")
    p50 = {n: percentile(v, 0.5) for n, v in latencies.items()}
    p99 = {n: percentile(v, 0.99) for n, v in latencies.items()}
    model_max, routed_max = statistics.median(throughput["direct"]), statistics.median(throughput["routed"])
    print(f"\nadded by the router vs direct (keep-alive):     p50 {p50['routed'] - p50['direct']:+.2f} ms "
          f"(ratio {p50['routed'] / p50['direct']:.2f}), p99 {p99['routed'] - p99['direct']:+.2f} ms "
          f"(ratio {p99['routed'] / p99['direct']:.2f})")
    print(f"added by the router vs direct (new connection): p50 {p50['routed'] - p50['direct, close']:+.2f} ms "
          f"(ratio {p50['routed'] / p50['direct, close']:.2f}), p99 {p99['routed'] - p99['direct, close']:+.2f} ms "
          f"(ratio {p99['routed'] / p99['direct, close']:.2f})")
    print(f"max throughput via the model server: direct {model_max:.0f} req/s, routed {routed_max:.0f} req/s "
          f"(ratio {routed_max / model_max:.2f}; router, load generator and model share this machine's CPUs)")
    print(f"router capacity (stub upstream): direct {stub_direct:.0f} req/s, routed {stub_routed:.0f} req/s "
          f"= {stub_routed / model_max:.1f}x the model server's max")
    print(f"target p50 added < 0.5 ms: {'met' if p50['routed'] - p50['direct'] < 0.5 else 'MISSED'}; "
          f"router capacity above the model server's: {'met' if stub_routed > model_max else 'MISSED'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RolloutLabError as exc:
        sys.exit(f"error: {exc}")
