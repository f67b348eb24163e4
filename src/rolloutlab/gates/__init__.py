"""Pre-deploy gates: checks on the candidate's own server that must pass before any user traffic moves.

    run_gates(gates, baseline=, candidate=, urls=, holdout=) -> list[GateResult]
    Gates / OfflineEvalGate / ContractGate / LatencySmokeGate / StressGate   the scenario's `gates:` section
    GateResult(name, passed, summary, numbers, seconds).to_dict()           one per gate, for the journal
"""

from __future__ import annotations

from rolloutlab.gates.result import GateResult
from rolloutlab.gates.runner import run_gates
from rolloutlab.scenario.gates import ContractGate, Gates, LatencySmokeGate, OfflineEvalGate, StressGate

GATE_NAMES = ("offline_eval", "contract", "latency_smoke", "stress")

__all__ = [
    "GATE_NAMES", "ContractGate", "GateResult", "Gates", "LatencySmokeGate", "OfflineEvalGate", "StressGate",
    "run_gates",
]
