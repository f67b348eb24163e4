"""PrometheusSource: instant queries over Prometheus' HTTP API."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from rolloutlab.errors import MetricsUnavailable


class PrometheusSource:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str], promql: str) -> list[dict]:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise MetricsUnavailable(f"prometheus rejected {promql}: {detail}") from exc
        except (OSError, ValueError) as exc:
            raise MetricsUnavailable(f"prometheus at {self.base_url} did not answer {promql}: {exc}") from exc
        if body.get("status") != "success":
            raise MetricsUnavailable(f"prometheus: {promql}: {body.get('error', body)}")
        return list(body["data"]["result"])

    def query(self, promql: str) -> float:
        result = self._get("/api/v1/query", {"query": promql}, promql)
        if not result:
            return math.nan
        if len(result) > 1:
            raise MetricsUnavailable(f"prometheus: {promql} returned {len(result)} series; expected one")
        return float(result[0]["value"][1])

    def query_by(self, promql: str, label: str) -> dict[str, float]:
        """An instant query returning one value per series, keyed by that series' `label` (NaN kept)."""
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self._get("/api/v1/query", {"query": promql}, promql)}

    def query_range(self, promql: str, start: float, end: float, step: float, label: str) -> dict[str, list[list[float]]]:
        """A range query: per series (keyed by `label`), [[epoch seconds, value], ...] (NaN kept as NaN)."""
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return {r["metric"].get(label, ""): [[float(t), float(v)] for t, v in r["values"]]
                for r in self._get("/api/v1/query_range", params, promql)}

    def is_online(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=self.timeout) as response:
                return response.status == 200
        except OSError:
            return False
