"""Render the local Prometheus config: every model version scraped each second, labelled by version."""

from __future__ import annotations

import yaml

SCRAPE_INTERVAL = "1s"


def render_prometheus_config(versions: dict[str, int], router_port: int | None = None) -> str:
    """prometheus.yml scraping each version's /metrics on 127.0.0.1; `version` comes from the target label."""
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
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)
