"""Phase timings of the testbed layer, printed in pytest's terminal summary (with or without -s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_LINES: list[str] = []


def report(phase: str, seconds: float) -> None:
    _LINES.append(f"{seconds:7.1f} s  {phase}")


@contextmanager
def record(phase: str) -> Iterator[None]:
    """Time the block and keep the line (also when it fails, marked so)."""
    started = time.monotonic()
    try:
        yield
    except BaseException:
        report(f"{phase} (FAILED)", time.monotonic() - started)
        raise
    report(phase, time.monotonic() - started)


def lines() -> list[str]:
    return list(_LINES)
