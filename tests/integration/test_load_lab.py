"""`rolloutlab load` against the real lab: two Locust workers, the live view, artifacts, Prometheus."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

from tests.settle import settled
from tests.integration.conftest import lab_processes, rolloutlab


def prometheus_value(base: str, promql: str) -> dict[str, float]:
    """{label values joined by ',': value} of an instant query."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return {",".join(r["metric"].values()): float(r["value"][1]) for r in result}


def test_load_with_two_workers_shows_each_version_and_reaches_prometheus(home: Path) -> None:
    up = rolloutlab("up", "--versions", "v1,v2")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        split = rolloutlab("route", "set", "v1=50", "v2=50", "--sticky")
        assert split.returncode == 0, split.stdout + split.stderr
        state = json.loads((home / "lab" / "state.json").read_text())
        prometheus = f"http://127.0.0.1:{state['prometheus_port']}"
        served = 'sum by (version) (max_over_time(bentoml_service_request_total{job="model",endpoint="/predict"}[10s]))'
        # The warm-up's requests (lab up) all scraped: the load's own are what comes after. Prometheus
        # scrapes every second, so a count unchanged for 2.5 s is final.
        before = settled(lambda: prometheus_value(prometheus, served), quiet_s=2.5, timeout_s=30)
        result = rolloutlab("load", "--shape", "step", "--users", "12", "--set", "step_users=6", "--set",
                            "step_time=5s", "--set", "feedback_delay=1s", "--rate-per-user", "4", "--workers", "2",
                            "--interval", "1s", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        live = [line for line in out.splitlines() if re.match(r"\[\d+:\d\d\] users", line)]
        assert len(live) >= 5
        assert any("| v1 " in line and "| v2 " in line for line in live)  # the live view splits by served version
        assert "users 12/12" in out and "users 6/6" in out  # both steps of the shape, as the shape asked
        pids = [int(p) for p in re.search(r"locust pids ([\d, ]+)", out).group(1).split(", ")]
        assert len(pids) == 3  # a master and two workers

        run_dir = Path(re.search(r"^artifacts: (\S+)", out, re.M).group(1))
        summary = json.loads((run_dir / "summary.json").read_text())
        versions = summary["versions"]
        assert set(versions) == {"v1", "v2"}
        assert summary["predictions"]["failures"] == 0 and summary["predictions"]["requests"] > 150
        assert 0.25 < versions["v1"]["requests"] / summary["predictions"]["requests"] < 0.75
        assert summary["feedback"].get("accepted", 0) > 100
        assert {p.name for p in run_dir.iterdir()} >= {"locust_stats.csv", "locust_stats_history.csv", "locust.json",
                                                       "progress.jsonl", "client-metrics-worker-0.prom",
                                                       "client-metrics-worker-1.prom"}
        assert len((run_dir / "progress.jsonl").read_text().splitlines()) == len(live)

        # Client and server views share Prometheus: each worker's exporter was scraped while it ran.
        settled(lambda: prometheus_value(prometheus, served), quiet_s=2.5, timeout_s=30)  # the servers' last counts
        window = "[3m]"
        run = run_dir.name
        client = prometheus_value(prometheus, f'sum by (served_version) (max_over_time('
                                               f'rolloutlab_client_requests_total{{run="{run}",outcome="ok"}}{window}))')
        processes = prometheus_value(prometheus, f'count by (process) (max_over_time('
                                                  f'rolloutlab_client_requests_total{{run="{run}"}}{window}))')
        after = prometheus_value(prometheus, served)
        server = {version: after[version] - before.get(version, 0.0) for version in after}
        assert set(processes) == {"worker-0", "worker-1"}
        assert set(client) == {"v1", "v2"}
        for version in ("v1", "v2"):
            # The last second before each worker stopped may miss its final scrape; nothing else differs.
            assert client[version] >= 0.8 * versions[version]["requests"]
            assert abs(server[version] - versions[version]["requests"]) <= 0.2 * versions[version]["requests"]
        labels = prometheus_value(prometheus, "sum(increase(rolloutlab_feedback_total{kind=\"label\"}" + window + "))")
        assert labels[""] > 0.8 * summary["feedback"]["accepted"]  # the servers counted the labels the client sent
        assert not list((home / "lab" / "prometheus" / "targets").glob("load-*.json"))  # unregistered at the end
    finally:
        down = rolloutlab("down")
        assert down.returncode == 0, down.stderr
    assert lab_processes(home) == []
