"""What a server remembers about each answered request, for /feedback: bounded in count and in age."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


class UnknownRequest(KeyError):
    """Never seen, forgotten (too old, or pushed out by newer requests)."""


class FeedbackAlreadyGiven(ValueError):
    """Feedback for a request counts once, so rewards cannot be inflated by repeats."""


@dataclass
class Remembered:
    predictions: tuple[int, ...]
    expires_at: float
    used: bool = False


class RequestMemory:
    """request id → predictions, for at most `ttl_seconds` and at most `max_entries` requests (oldest go first)."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        # Entries are kept in insertion order with one TTL, so the expired ones are at the front.
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.expires_at > now:
                break
            self._entries.popitem(last=False)

    def remember(self, request_id: str, predictions: tuple[int, ...]) -> None:
        now = self._clock()
        self._expire(now)
        self._entries.pop(request_id, None)
        self._entries[request_id] = Remembered(predictions, now + self.ttl_seconds)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def lookup(self, request_id: str) -> Remembered:
        """The request awaiting feedback; the caller sets .used once it counted it.

        Raises UnknownRequest (never seen, or forgotten) or FeedbackAlreadyGiven.
        """
        self._expire(self._clock())
        entry = self._entries.get(request_id)
        if entry is None:
            raise UnknownRequest(request_id)
        if entry.used:
            raise FeedbackAlreadyGiven(request_id)
        return entry
