"""Whose fault is a part of the lab that stopped mid-run: the candidate's (roll it back) or the lab's (abort).

The engine asks a target's Watch, about once a second while it holds a step, which parts are gone.
A candidate's own server going away is the candidate's failure: its users get errors, so it is rolled
back at once. Anything else — the baseline's server, the router, Prometheus — is an infrastructure
fault: no verdict on the candidate can be drawn from it, the run ends aborted and says which part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Fault:
    component: str  # "model v2", "router", "prometheus"
    message: str  # what is wrong, for the user: "model v2 (pid 123) exited"
    version: str | None = None  # the model version whose server this is, if it is one


class Watch(Protocol):
    """A target's view of its own processes (the local target: its PIDs; a cluster: its pods)."""

    def faults(self) -> list[Fault]:
        """Every part of the lab that should run and does not, now (empty when all is well)."""
        ...


def classify(faults: list[Fault], candidates: set[str]) -> tuple[list[Fault], list[Fault]]:
    """Split faults into (the candidates' own, the lab's): only a candidate's server is the candidate's fault."""
    own = [f for f in faults if f.version is not None and f.version in candidates]
    lab = [f for f in faults if f not in own]
    return own, lab


def describe(faults: list[Fault]) -> str:
    return "infrastructure fault: " + "; ".join(f.message for f in faults)
