"""The MetricsSource contract."""

from __future__ import annotations

from typing import Protocol


class MetricsSource(Protocol):
    # query evaluates an instant PromQL query and returns its single value; NaN when there is no data.
    def query(self, promql: str) -> float: ...

    # is_online returns True when the backend answers; it never raises.
    def is_online(self) -> bool: ...
