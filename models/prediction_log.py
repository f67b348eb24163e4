"""The structured prediction log: one JSON line per answered prediction and per feedback message.

Prometheus counts; this log explains: which request got which answer from which version, how fast, for
whom, and (once feedback arrives) whether it was right. A shadow evaluation joins two versions' logs on
the request id the router gives both copies of a mirrored request. Off unless ROLLOUTLAB_PREDICTION_LOG
names a file.

The features of a sampled share of requests (ROLLOUTLAB_LOG_FEATURES, 0..1, default 0) go into their
lines, for the drift monitor (rolloutlab/drift/), which reads this log: its tests and attributions run
there, off the request path. The sample is picked by the request id's hash, so both copies of a
mirrored request are sampled alike.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from typing import IO

FEATURES_SHARE_ENV = "ROLLOUTLAB_LOG_FEATURES"


class PredictionLog:
    def __init__(self, path: str | None, version: str, features_share: float = 0.0) -> None:
        self.version = version
        if not 0.0 <= features_share <= 1.0:
            raise ValueError(f"{FEATURES_SHARE_ENV}={features_share} must be between 0 and 1")
        self._features_below = int(features_share * 2**32)
        # Line-buffered append: each line is one write, whole, even with several worker processes.
        self._file: IO[str] | None = open(path, "a", buffering=1, encoding="utf-8") if path else None

    @classmethod
    def from_environment(cls, version: str) -> PredictionLog:
        return cls(os.environ.get("ROLLOUTLAB_PREDICTION_LOG") or None, version,
                   float(os.environ.get(FEATURES_SHARE_ENV) or 0.0))

    def samples(self, request_id: str) -> bool:
        """Whether this request's features go into the log (a stable function of its id)."""
        return zlib.crc32(request_id.encode("utf-8")) < self._features_below

    def _write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def prediction(self, request_id: str, predictions: tuple[int, ...], latency_ms: float, user: str | None,
                   mirrored: bool, features: list[list[float]] | None = None) -> None:
        record = {"ts": round(time.time(), 3), "kind": "prediction", "request_id": request_id,
                  "version": self.version, "predictions": list(predictions), "latency_ms": round(latency_ms, 3),
                  "user": user, "mirrored": mirrored}
        if features is not None and self._file is not None and self.samples(request_id):
            record["features"] = features
        self._write(record)

    def feedback(self, request_id: str | None, labels: list[int] | None, reward: float | None) -> None:
        self._write({"ts": round(time.time(), 3), "kind": "feedback", "request_id": request_id,
                     "version": self.version, "labels": labels, "reward": reward})
