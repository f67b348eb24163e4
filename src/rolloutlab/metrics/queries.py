"""PromQL templates, kept as data apart from the code that runs them.

Placeholders ($-style, since PromQL is full of braces): $version (the `version` target label the lab's
Prometheus puts on each model server), $window (a range like 15s).
"""

from __future__ import annotations

from string import Template

_PREDICT = 'job="model",version="$version",endpoint="/predict"'

QUERIES: dict[str, Template] = {
    "requests": Template(f"sum(increase(bentoml_service_request_total{{{_PREDICT}}}[$window]))"),
    "errors": Template(
        f'sum(increase(bentoml_service_request_total{{{_PREDICT},http_response_code=~"5.."}}[$window]))'
    ),
    "p95_seconds": Template(
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(bentoml_service_request_duration_seconds_bucket{{{_PREDICT}}}[$window])))"
    ),
}


def render(name: str, version: str, window_seconds: float) -> str:
    """The named query for one version over the last window_seconds (whole seconds, at least 2)."""
    window = f"{max(2, round(window_seconds))}s"
    return QUERIES[name].substitute(version=version, window=window)
