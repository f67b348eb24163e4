"""The structured prediction log: one JSON line per answered prediction and per feedback message.

Prometheus counts; this log explains: which request got which answer from which version, how fast, for
whom, and (once feedback arrives) whether it was right. A shadow evaluation joins two versions' logs on
the request id the router gives both copies of a mirrored request. Off unless ROLLOUTLAB_PREDICTION_LOG
names a file.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO


class PredictionLog:
    def __init__(self, path: str | None, version: str) -> None:
        self.version = version
        # Line-buffered append: each line is one write, whole, even with several worker processes.
        self._file: IO[str] | None = open(path, "a", buffering=1, encoding="utf-8") if path else None

    @classmethod
    def from_environment(cls, version: str) -> PredictionLog:
        return cls(os.environ.get("ROLLOUTLAB_PREDICTION_LOG") or None, version)

    def _write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def prediction(self, request_id: str, predictions: tuple[int, ...], latency_ms: float, user: str | None,
                   mirrored: bool) -> None:
        self._write({"ts": round(time.time(), 3), "kind": "prediction", "request_id": request_id,
                     "version": self.version, "predictions": list(predictions), "latency_ms": round(latency_ms, 3),
                     "user": user, "mirrored": mirrored})

    def feedback(self, request_id: str | None, labels: list[int] | None, reward: float | None) -> None:
        self._write({"ts": round(time.time(), 3), "kind": "feedback", "request_id": request_id,
                     "version": self.version, "labels": labels, "reward": reward})
