"""StaticSource: canned answers per query, for tests of analysis and the engine."""

from __future__ import annotations

import math

from rolloutlab.errors import MetricsUnavailable


class StaticSource:
    def __init__(self, values: dict[str, float] | None = None, online: bool = True) -> None:
        self.values = dict(values or {})
        self.online = online
        self.asked: list[str] = []

    def query(self, promql: str) -> float:
        self.asked.append(promql)
        if not self.online:
            raise MetricsUnavailable("static source is offline")
        return self.values.get(promql, math.nan)

    def is_online(self) -> bool:
        return self.online
