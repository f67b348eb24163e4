"""Benchmark: how many requests per second one core of the load generator can send, beside wrk and hey.

Starts an NGINX on a free 127.0.0.1 port whose /predict and /feedback answer a fixed JSON at once
(so the endpoint is never the bottleneck), then loads it, one after the other in one run, with:

  locust (lab user)   loadtests/locustfile.py's PredictionUser: seeded users, x-user-id, JSON rows,
                      reading the served version, client metrics exporter on (feedback off)
  locust (bare)       a bare FastHttpUser posting the same body: Locust's own floor
  wrk                 C, event loop (when installed: it is optional; skipped, saying so, otherwise)
  hey                 Go (bootstrap installs it)

Each runs closed-loop (no waiting) with the same number of connections. CPU time is taken from the
process itself over the steady part of the run (Locust's start-up import is left out), so
"per core" = requests / CPU seconds. Prints the figures and the ratios, so users know when the
generator rather than the service is the bottleneck (and when to add --workers).

    .venv/bin/python bench/bench_loadgen.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from rolloutlab.load.locust_runner import LoadSpec
from rolloutlab.paths import project_root
from rolloutlab.targets.processes import free_port, http_ok
from rolloutlab.targets.programs import find_program

ANSWER = '{"predictions": [3], "version": "bench", "request_id": "bench-1"}'
BARE_USER = '''
from locust import FastHttpUser, task
BODY = open({body!r}).read()

class Bare(FastHttpUser):
    @task
    def predict(self):
        self.client.post("/predict", data=BODY, headers={{"content-type": "application/json"}})
'''


def start_nginx(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    (workdir / "tmp").mkdir(parents=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/tmp;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{ANSWER}'; }}
    }}
}}
""")
    process = subprocess.Popen([find_program("nginx"), "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):
        if http_ok(f"{url}/ready"):
            return process, url
        time.sleep(0.1)
    process.kill()
    raise SystemExit("nginx did not start")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def locust_history_count(path: Path) -> int:
    """Total requests so far, from the last Aggregated row Locust wrote to its stats history."""
    try:
        with open(path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
        return int(rows[-1]["Total Request Count"]) if rows else 0
    except (OSError, KeyError, ValueError):
        return 0


def run_locust(argv: list[str], env: dict[str, str], csv_prefix: Path, seconds: float) -> tuple[float, float]:
    """(requests/s wall, requests per CPU second) over the steady part of a Locust run."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = psutil.Process(process.pid)
    history = Path(f"{csv_prefix}_stats_history.csv")
    try:
        # Wait until requests flow (imports done, users spawned), then measure a steady window.
        deadline = time.monotonic() + 60
        while locust_history_count(history) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        t0, c0, n0 = time.monotonic(), cpu_seconds(proc), locust_history_count(history)
        time.sleep(seconds)
        t1, c1, n1 = time.monotonic(), cpu_seconds(proc), locust_history_count(history)
    finally:
        process.terminate()
        process.wait(30)
    return (n1 - n0) / (t1 - t0), (n1 - n0) / max(c1 - c0, 1e-9)


def run_native(argv: list[str], seconds: float, pattern: str) -> tuple[float, float]:
    """(requests/s as the tool reports it, requests per CPU second) of wrk or hey."""
    before = os.times()
    output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    match = re.search(pattern, output)
    if not match:
        raise SystemExit(f"could not read the rate from {argv[0]}:\n{output}")
    rps = float(match.group(1))
    return rps, rps * seconds / max(cpu, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    seconds, conns = args.seconds, args.connections
    wrk, hey = shutil.which("wrk"), find_program("hey")
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp:
        work = Path(tmp)
        nginx, url = start_nginx(work / "nginx")
        try:
            holdout = work / "holdout.json"
            rows = [{"features": [float(i % 17) for i in range(64)], "label": 3}] * 100
            holdout.write_text(json.dumps(rows))
            body = work / "body.json"
            body.write_text(json.dumps({"instances": [rows[0]["features"]]}))

            print(f"endpoint {url} (nginx `return 200`), {conns} connections, {seconds:g}s each", flush=True)
            spec = LoadSpec(host=url, holdout=holdout, max_seconds=seconds + 60, users=conns, rate_per_user=1e6,
                            feedback_delay=None)
            env = {**os.environ, **spec.environment(), "ROLLOUTLAB_EXPORTER_PORT": str(free_port())}
            common = ["--headless", "--host", url, "--only-summary", "--loglevel", "ERROR", "--csv-full-history"]
            results["locust (lab user)"] = run_locust(
                [sys.executable, "-m", "locust", "-f", str(project_root() / "loadtests" / "locustfile.py"), *common,
                 "--csv", str(work / "lab")], env, work / "lab", seconds)
            bare = work / "bare.py"
            bare.write_text(BARE_USER.format(body=str(body)))
            results["locust (bare)"] = run_locust(
                [sys.executable, "-m", "locust", "-f", str(bare), *common, "--csv", str(work / "bare"),
                 "-u", str(conns), "-r", str(conns)], {**os.environ}, work / "bare", seconds)
            if wrk:
                lua = work / "post.lua"
                lua.write_text(f'wrk.method = "POST"\nwrk.body = [[{body.read_text()}]]\n'
                               'wrk.headers["Content-Type"] = "application/json"\n')
                results["wrk"] = run_native([wrk, "-t1", f"-c{conns}", f"-d{seconds:g}s", "-s", str(lua),
                                             f"{url}/predict"], seconds, r"Requests/sec:\s+([\d.]+)")
            else:
                print("wrk is not installed: its row is skipped (apt-get install wrk, or brew install wrk)", flush=True)
            results["hey"] = run_native([hey, "-z", f"{seconds:g}s", "-c", str(conns), "-m", "POST", "-D", str(body),
                                         "-T", "application/json", f"{url}/predict"], seconds,
                                        r"Requests/sec:\s+([\d.]+)")
        finally:
            nginx.terminate()
            nginx.wait(10)

    print(f"\n{'generator':<20} {'req/s':>10} {'req/s per core':>16}")
    for name, (rps, per_core) in results.items():
        print(f"{name:<20} {rps:>10.0f} {per_core:>16.0f}")
    lab = results["locust (lab user)"][1]
    print("\nratios (per core):")
    for name in (n for n in ("locust (bare)", "wrk", "hey") if n in results):
        print(f"  {name} / locust (lab user): {results[name][1] / lab:.1f}x")
    print(f"\none Locust process with the lab user sends at most ≈ {lab:.0f} req/s per core: above about "
          f"{0.7 * lab:.0f} req/s per process, add --workers (or expect the generator, not the service, to limit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
