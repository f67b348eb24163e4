"""Benchmark: what serving a model through BentoML costs, against calling the same model in-process.

Builds v2 (the RBF SVM) into a temporary store, then measures side by side in one run:

  in-process model    model.predict on one row / a 64-row batch, in this process (no HTTP, no JSON)
  in-process handler  the server's request path without HTTP: parse JSON, validate, predict, encode
  served (c=1)        `bentoml serve` (1 worker) on 127.0.0.1, one request at a time with `hey`:
                      per-request latency, so p50 served − p50 in-process is the serving overhead
  served (c=N)        the same server, N concurrent keep-alive clients for a fixed time: requests per
                      second per worker (hey runs on the same cores, so this is a floor)
  served, batch 64    64 rows per request, c=N: rows per second per worker

Rounds are interleaved so drift on a shared machine hits every path alike; medians over rounds are
printed with the ratios.

    .venv/bin/python bench/bench_serving.py [--seconds 6] [--rounds 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rolloutlab.targets.programs import find_program

HEY = find_program("hey")  # bootstrap installs it; a clear error names the package otherwise


def hey(url: str, body: Path, concurrency: int, seconds: float | None = None,
        requests: int | None = None) -> dict[str, float]:
    """Latency p50/p99 (ms) of successful requests, their rate (req/s) and the failures, from hey's CSV."""
    argv = [HEY, "-c", str(concurrency), "-m", "POST", "-D", str(body), "-T", "application/json", "-o", "csv"]
    argv += ["-z", f"{seconds:g}s"] if seconds else ["-n", str(requests)]
    started = time.perf_counter()
    out = subprocess.run([*argv, f"{url}/predict"], capture_output=True, text=True, timeout=(seconds or 60) + 60).stdout
    elapsed = time.perf_counter() - started
    rows = list(csv.DictReader(io.StringIO(out)))
    ok = sorted(1000 * float(r["response-time"]) for r in rows if r["status-code"] == "200")
    if len(ok) < 20:
        raise SystemExit(f"hey got only {len(ok)} successful answers from {url}")
    return {"p50": percentile(ok, 0.50), "p99": percentile(ok, 0.99), "rate": len(ok) / elapsed,
            "failed": len(rows) - len(ok)}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def time_calls(function: Any, calls: int) -> dict[str, float]:
    """p50/p99 of single calls (ms) and calls per second, sequentially in this process."""
    samples = []
    started = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        function()
        samples.append((time.perf_counter() - t0) * 1000)
    rate = calls / (time.perf_counter() - started)
    samples.sort()
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "rate": rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each throughput measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rolloutlab-bench-serving-"))
    os.environ.update({"ROLLOUTLAB_HOME": str(work), "BENTOML_HOME": str(work / "bentoml"),
                       "BENTOML_DO_NOT_TRACK": "true"})
    from rolloutlab import zoo
    from rolloutlab.targets.processes import http_ok
    from rolloutlab.zoo.scripts import load_script
    from rolloutlab.zoo.server import start_server

    import joblib
    import numpy as np

    print("building v2 into a temporary store ...", flush=True)
    zoo.ensure_built(["v2"])
    catalogue = zoo.load_catalogue()
    version = catalogue.version_string("v2")
    model = joblib.load(work / "bentoml" / "models" / catalogue.model / version / "model.joblib")
    rows = json.loads(zoo.holdout_path().read_text(encoding="utf-8"))
    one_body, batch_body = work / "one.json", work / "batch.json"
    one_body.write_text(json.dumps({"instances": [rows[0]["features"]]}), encoding="utf-8")
    batch_body.write_text(json.dumps({"instances": [r["features"] for r in rows[:64]]}), encoding="utf-8")
    one = np.asarray([rows[0]["features"]])
    batch = np.asarray([r["features"] for r in rows[:64]])

    payloads = load_script("payloads")
    one_bytes = one_body.read_bytes()

    def handler() -> bytes:  # the server's own work per request, minus HTTP and BentoML
        instances = payloads.parse_predict(payloads.parse_json(one_bytes), 64, 64)
        predictions = [int(p) for p in model.predict(np.asarray(instances, dtype=float))]
        return json.dumps({"predictions": predictions, "version": "v2", "request_id": "x" * 32}).encode()

    server = start_server(catalogue, "v2", work / "serving")
    try:
        deadline = time.monotonic() + 120
        while not http_ok(server.url + "/readyz"):
            if time.monotonic() > deadline:
                raise SystemExit(f"server not ready; log {server.record.log}")
            time.sleep(0.2)
        hey(server.url, one_body, 4, requests=400)  # warm-up
        results: dict[str, list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds} ...", flush=True)
            results.setdefault("model", []).append(time_calls(lambda: model.predict(one), 2000))
            results.setdefault("model_batch", []).append(time_calls(lambda: model.predict(batch), 200))
            results.setdefault("handler", []).append(time_calls(handler, 2000))
            results.setdefault("served_c1", []).append(hey(server.url, one_body, 1, requests=1000))
            results.setdefault("served_cN", []).append(hey(server.url, one_body, args.concurrency, args.seconds))
            results.setdefault("served_batch", []).append(hey(server.url, batch_body, args.concurrency, args.seconds))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in results.items()}
    failed = sum(r.get("failed", 0) for runs in results.values() for r in runs)
    print(f"\nserving v2 ({version}), 1 BentoML worker, {os.cpu_count()} cores shared with hey; "
          f"medians of {args.rounds} rounds; {failed:g} failed requests\n")
    print(f"{'path':<34} {'p50 ms':>8} {'p99 ms':>8} {'per second':>12}")
    table = [
        ("in-process model.predict (1 row)", med["model"], "calls"),
        ("in-process handler (1 row)", med["handler"], "calls"),
        ("served, c=1 (1 row)", med["served_c1"], "req"),
        (f"served, c={args.concurrency} (1 row)", med["served_cN"], "req"),
        ("in-process model.predict (64 rows)", {**med["model_batch"], "rate": med["model_batch"]["rate"] * 64}, "rows"),
        (f"served, c={args.concurrency} (64 rows)", {**med["served_batch"], "rate": med["served_batch"]["rate"] * 64},
         "rows"),
    ]
    for label, figures, unit in table:
        print(f"{label:<34} {figures['p50']:>8.3f} {figures['p99']:>8.3f} {figures['rate']:>8.0f} {unit}")

    overhead = med["served_c1"]["p50"] - med["model"]["p50"]
    print("\nratios")
    print(f"  serving overhead at p50:           {overhead:.2f} ms per request "
          f"(served c=1 p50 / in-process p50 = {med['served_c1']['p50'] / med['model']['p50']:.1f}x)")
    print(f"  of which the handler's own work:   {med['handler']['p50'] - med['model']['p50']:.3f} ms "
          f"(parse, validate, encode)")
    print(f"  requests/s per worker (c={args.concurrency}):      {med['served_cN']['rate']:.0f} "
          f"= {med['served_cN']['rate'] / med['model']['rate']:.3f} of in-process calls/s "
          f"({med['model']['rate']:.0f})")
    print(f"  rows/s per worker, batches of 64:  {med['served_batch']['rate'] * 64:.0f} "
          f"= {med['served_batch']['rate'] / med['model_batch']['rate']:.3f} of in-process rows/s; "
          f"batching serves {med['served_batch']['rate'] * 64 / med['served_cN']['rate']:.1f}x the rows "
          "of single-row requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
