"""Agreement of a shadow with the baseline: both versions' prediction logs joined on the request id.

The router gives both copies of a mirrored request the same x-request-id, and each server logs its answer
(models/prediction_log.py); feedback lines carry the true labels the baseline received. So on the very
same requests we know whether the two versions agreed, how fast each was, and which was right.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_log(path: Path, since: float) -> list[dict[str, Any]]:
    """The records of one prediction log written at or after `since` (a torn last line is skipped)."""
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("ts", 0) >= since:
                records.append(record)
    return records


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _accuracy(pairs: Iterable[tuple[list[int], list[int]]]) -> tuple[float | None, int]:
    right = total = 0
    for predicted, labels in pairs:
        right += sum(p == y for p, y in zip(predicted, labels))
        total += len(labels)
    return (right / total if total else None), total


def agreement(baseline: list[dict[str, Any]], shadow: list[dict[str, Any]]) -> dict[str, Any]:
    """Join on request id: agreement rate, p95 latency of each side, and accuracy where labels arrived."""
    base = {r["request_id"]: r for r in baseline if r.get("kind") == "prediction"}
    labels = {r["request_id"]: r["labels"] for r in baseline if r.get("kind") == "feedback" and r.get("labels")}
    mirrored = {r["request_id"]: r for r in shadow if r.get("kind") == "prediction" and r.get("mirrored")}
    matched = [rid for rid in mirrored if rid in base]
    if not matched:
        return {"matched": 0, "mirrored": len(mirrored), "agreement": None}
    agree = sum(base[rid]["predictions"] == mirrored[rid]["predictions"] for rid in matched)
    labelled = [rid for rid in matched if rid in labels]
    base_accuracy, n = _accuracy((base[rid]["predictions"], labels[rid]) for rid in labelled)
    shadow_accuracy, _ = _accuracy((mirrored[rid]["predictions"], labels[rid]) for rid in labelled)
    gap = base_accuracy - shadow_accuracy if base_accuracy is not None and shadow_accuracy is not None else None
    return {
        "matched": len(matched), "mirrored": len(mirrored), "agreement": agree / len(matched), "labelled": n,
        "baseline_accuracy": base_accuracy, "candidate_accuracy": shadow_accuracy, "accuracy_gap": gap,
        "baseline_p95_ms": _p95([base[rid]["latency_ms"] for rid in matched]),
        "candidate_p95_ms": _p95([mirrored[rid]["latency_ms"] for rid in matched]),
    }
