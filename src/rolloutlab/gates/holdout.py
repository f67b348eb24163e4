"""Read the held-out rows the offline gate and the probes send: a JSON list of {"features", "label"}."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.errors import GateError


@dataclass(frozen=True)
class Holdout:
    features: list[list[float]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def load_holdout(path: Path, rows: int | None = None) -> Holdout:
    """The first `rows` held-out rows (all when None); GateError naming the file and the row when unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"held-out data {path} does not exist; build a model version first "
                        "(`rolloutlab models build v1`) — the first build writes it") from None
    except (OSError, ValueError) as exc:
        raise GateError(f"held-out data {path} is unreadable: {exc}") from None
    if not isinstance(data, list) or not data:
        raise GateError(f"held-out data {path}: expected a non-empty JSON list of rows")
    features, labels = [], []
    for index, row in enumerate(data[:rows] if rows else data):
        if (not isinstance(row, dict) or not isinstance(row.get("features"), list)
                or type(row.get("label")) is not int):
            raise GateError(f"held-out data {path}: row {index} is not {{\"features\": [numbers], \"label\": int}}")
        features.append(row["features"])
        labels.append(row["label"])
    if rows is not None and len(labels) < rows:
        raise GateError(f"held-out data {path} has {len(labels)} rows; the offline gate asks for {rows}")
    return Holdout(features, labels)
