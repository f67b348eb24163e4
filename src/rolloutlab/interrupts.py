"""Ctrl-C and `kill` as a flag the engine reads at every step, not only as an exception.

A KeyboardInterrupt is raised wherever the main thread happens to be; code that swallows it there (a
finaliser, a library's broad `except`) would let a run go on to a verdict after the user asked it to
stop. The handler below raises it *and* records it, so the engine acts on it within a second anyway.
"""

from __future__ import annotations

import signal
from types import FrameType

_requested: list[str] = []


def install() -> None:
    """SIGINT and SIGTERM both: remember the request, then raise KeyboardInterrupt in the main thread."""
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)


def _handle(signum: int, _frame: FrameType | None) -> None:
    _requested.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def requested() -> str | None:
    """The first signal received since install() or reset() (e.g. "SIGINT"), else None."""
    return _requested[0] if _requested else None


def reset() -> None:
    _requested.clear()
