"""What a strategy tells the engine to do next."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    ADVANCE = "advance"  # move to the next traffic split, then analyse it
    HOLD = "hold"  # keep the split, analyse again
    PROMOTE = "promote"  # all traffic to the candidate: done
    ROLLBACK = "rollback"  # all traffic back to the baseline: done

    @property
    def final(self) -> bool:
        return self in (Kind.PROMOTE, Kind.ROLLBACK)


@dataclass(frozen=True)
class Action:
    kind: Kind
    candidate_percent: int
    reason: str
