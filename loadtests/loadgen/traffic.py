"""The seeded traffic plan: which simulated end user sends which held-out row, request after request.

Pure and deterministic: the same seed gives every Locust user slot the same stream of (user id, row),
whatever strategy or router sits behind, so runs of different strategies see identical traffic.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Draw:
    """One request of the plan: slot (Locust user), its sequence number, the end user and the row."""

    slot: int
    seq: int
    user_id: str
    row: int


def user_id(index: int) -> str:
    """The x-user-id of population member `index` (stable names, so sticky routing sees the same ids)."""
    return f"user-{index:07d}"


BUCKET_HEADER = "x-rolloutlab-bucket"  # rolloutlab/routers/sticky_buckets.py maps buckets to arms
BUCKETS = 100


def bucket_of(user: str) -> str:
    """The user's sticky bucket "00".."99": a stable hash (SHA-256, not hash(), which varies per process)."""
    digest = hashlib.sha256(user.encode("utf-8")).digest()
    return f"{int.from_bytes(digest[:8], 'big') % BUCKETS:02d}"


def user_slot(local_index: int, worker_index: int = 0, workers: int = 1) -> int:
    """The global slot of a worker's local_index-th user.

    Locust hands users to workers round-robin, so worker w's k-th user is the (k·N + w)-th user of
    the whole run: N workers play the same slots as a single process would.
    """
    if workers < 1 or not 0 <= worker_index < workers:
        raise ValueError(f"worker index {worker_index} out of range for {workers} worker(s)")
    return local_index * workers + worker_index


def request_stream(seed: int, slot: int, population: int, n_rows: int) -> Iterator[Draw]:
    """The endless request stream of one slot: each request draws an end user and a held-out row."""
    if population < 1 or n_rows < 1:
        raise ValueError(f"population ({population}) and rows ({n_rows}) must both be at least 1")
    # A string seed is hashed with SHA-512 by random.Random: stable across processes and Python runs
    # (unlike hash(), which PYTHONHASHSEED randomises).
    rng = random.Random(f"rolloutlab:{seed}:{slot}")
    for seq in itertools.count():
        yield Draw(slot, seq, user_id(rng.randrange(population)), rng.randrange(n_rows))


def traffic_sequence(seed: int, slots: int, per_slot: int, population: int, n_rows: int) -> list[Draw]:
    """The first per_slot requests of slots 0..slots-1, slot by slot (for tests and audits)."""
    return [draw for slot in range(slots)
            for draw in itertools.islice(request_stream(seed, slot, population, n_rows), per_slot)]
