"""The run journal: append-only JSONL, flushed and synced line by line so a crash loses nothing measured."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rolloutlab.errors import RolloutLabError


class JournalError(RolloutLabError):
    """The journal could not be written (disk full, read-only): the lines before stay intact."""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a failed write leaves no buffered rest of its line to reach the disk later.
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {path}: {exc.strerror or exc}") from exc
        self._seq = 0
        self.failed: JournalError | None = None

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record; the first failure raises JournalError, later writes are dropped (the run is aborting)."""
        self._seq += 1
        record = {"seq": self._seq, "ts": round(time.time(), 3), "event": event, **fields}
        if self.failed is not None:
            return record
        data = (json.dumps(record, default=str) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as exc:
            self._drop_torn_line(size)
            self.failed = JournalError(f"cannot write the journal {self.path}: {exc.strerror or exc}; "
                                       f"the {self._seq - 1} records before are intact")
            raise self.failed from exc
        return record

    def _drop_torn_line(self, size: int) -> None:
        """Cut what reached the disk of the line that failed, so the journal stays valid JSON lines."""
        try:
            os.ftruncate(self._fd, size)
        except OSError:
            pass  # read_journal skips a torn last line anyway

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_journal(path: Path) -> list[dict[str, Any]]:
    """All records of a journal; a torn last line (crash mid-write) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
