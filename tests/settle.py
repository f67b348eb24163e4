"""Waiting for counts that arrive a little later, by watching them settle rather than sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settled(read: Callable[[], T], quiet_s: float = 1.0, timeout_s: float = 20.0) -> T:
    """What read() returns once it has stopped changing for quiet_s (bounded by timeout_s).

    Counts that arrive a little later (NGINX flushes its access log every 250 ms; mirrored copies are
    still in flight) are waited for by watching them settle, not by a fixed sleep that a busy machine
    can outlast."""
    deadline = time.monotonic() + timeout_s
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last
