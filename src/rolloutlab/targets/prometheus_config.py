"""Render the local Prometheus config: every model version scraped each second, labelled by version."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from rolloutlab.paths import write_atomically

SCRAPE_INTERVAL = "1s"
ROUTER_METRICS_PATH = "/_rolloutlab/metrics"


def render_prometheus_config(versions: dict[str, int], router_port: int, file_sd_dir: Path) -> str:
    """prometheus.yml for the local lab.

    - job "model": each version's /metrics on 127.0.0.1, with `version` from the target label;
    - job "router": what the router exports about itself (routing weights) at ROUTER_METRICS_PATH;
    - job "dynamic": targets that come and go during a run (the load generator's exporter), read from
      JSON files in file_sd_dir, which Prometheus watches, so no restart or reload is needed.
    """
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            # Must not exceed the interval, and Prometheus' default (10s) does.
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "model",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"version": version}}
                    for version, port in sorted(versions.items())
                ],
            },
            {
                "job_name": "router",
                "metrics_path": ROUTER_METRICS_PATH,
                "static_configs": [{"targets": [f"127.0.0.1:{router_port}"]}],
            },
            {
                "job_name": "dynamic",
                "file_sd_configs": [{"files": [str(file_sd_dir / "*.json")], "refresh_interval": "5s"}],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_file_sd_target(file_sd_dir: Path, name: str, port: int, labels: dict[str, str]) -> Path:
    """Ask Prometheus to scrape 127.0.0.1:port/metrics (with labels) until remove_file_sd_target(name)."""
    path = file_sd_dir / f"{name}.json"
    # Prometheus watches *.json here: it must never read a half-written file.
    write_atomically(path, json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": labels}]))
    return path


def remove_file_sd_target(file_sd_dir: Path, name: str) -> None:
    (file_sd_dir / f"{name}.json").unlink(missing_ok=True)
