"""The gates' schema: defaults, and bad values rejected naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rolloutlab.gates import GateResult, Gates, LatencySmokeGate, OfflineEvalGate, StressGate


def test_defaults_run_offline_eval_contract_and_latency_smoke_but_not_stress() -> None:
    gates = Gates()
    assert gates.enabled() == ["offline_eval", "contract", "latency_smoke"]
    assert gates.offline_eval == OfflineEvalGate(max_accuracy_drop=0.01, max_f1_drop=0.01, rows=None)
    assert gates.latency_smoke == LatencySmokeGate(requests=200, concurrency=4, max_p95_ratio=1.5, tolerance_ms=10)


def test_disabled_or_absent_gates_do_not_run() -> None:
    gates = Gates.model_validate({"offline_eval": None, "contract": {"enabled": False},
                                  "stress": {"enabled": True, "min_rps": 20}})
    assert gates.enabled() == ["latency_smoke", "stress"]


@pytest.mark.parametrize(("data", "field", "problem"), [
    ({"offline_eval": {"max_accuracy_drop": -0.1}}, "offline_eval.max_accuracy_drop", "greater than or equal to 0"),
    ({"offline_eval": {"max_f1_drop": 2}}, "offline_eval.max_f1_drop", "less than or equal to 1"),
    ({"offline_eval": {"rows": 0}}, "offline_eval.rows", "greater than or equal to 1"),
    ({"offline_eval": {"max_acc_drop": 0.1}}, "offline_eval.max_acc_drop", "Extra inputs are not permitted"),
    ({"contract": {"cases": 3}}, "contract.cases", "Extra inputs are not permitted"),
    ({"latency_smoke": {"requests": 5}}, "latency_smoke.requests", "greater than or equal to 20"),
    ({"latency_smoke": {"concurrency": 0}}, "latency_smoke.concurrency", "greater than or equal to 1"),
    ({"latency_smoke": {"max_p95_ratio": 0.9}}, "latency_smoke.max_p95_ratio", "greater than or equal to 1"),
    ({"latency_smoke": {"max_p95_ms": 0}}, "latency_smoke.max_p95_ms", "greater than 0"),
    ({"latency_smoke": {"tolerance_ms": "ten"}}, "latency_smoke.tolerance_ms", "valid number"),
    ({"stress": {"step_time": 2}}, "stress.step_time", "greater than or equal to 4"),
    ({"stress": {"min_rps": 0}}, "stress.min_rps", "greater than 0"),
    ({"smoke": {}}, "smoke", "Extra inputs are not permitted"),
])
def test_bad_values_are_rejected_naming_the_field(data: dict, field: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Gates.model_validate(data)
    errors = caught.value.errors()
    assert [".".join(map(str, e["loc"])) for e in errors] == [field]
    assert problem in errors[0]["msg"]


def test_gates_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Gates().offline_eval.rows = 10  # type: ignore[union-attr]


def test_a_result_becomes_a_plain_dict_for_the_journal() -> None:
    result = GateResult("offline_eval", False, "accuracy 0.785 vs v1 0.944 (drop 0.159 > 0.010)",
                        {"candidate_accuracy": 0.785, "baseline": "v1", "allowed": None}).timed(1.23456)
    assert result.to_dict() == {
        "name": "offline_eval", "passed": False, "summary": "accuracy 0.785 vs v1 0.944 (drop 0.159 > 0.010)",
        "numbers": {"candidate_accuracy": 0.785, "baseline": "v1", "allowed": None}, "seconds": 1.235,
        "skipped": False,
    }


def test_the_cli_offers_every_gate_to_skip_in_run_order() -> None:
    from rolloutlab.cli.gates import GATE_NAMES as CLI_NAMES
    from rolloutlab.gates import GATE_NAMES

    assert CLI_NAMES == GATE_NAMES == tuple(Gates(stress=StressGate(enabled=True)).enabled())
