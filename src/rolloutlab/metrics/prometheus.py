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

    def query(self, promql: str) -> float:
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
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
        result = body["data"]["result"]
        if not result:
            return math.nan
        if len(result) > 1:
            raise MetricsUnavailable(f"prometheus: {promql} returned {len(result)} series; expected one")
        return float(result[0]["value"][1])

    def is_online(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=self.timeout) as response:
                return response.status == 200
        except OSError:
            return False
