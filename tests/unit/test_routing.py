"""RoutingState validation and serialisation, the fake router, and the routing journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.errors import RoutingError
from rolloutlab.journal import read_journal
from tests.fakes.fake_router import FakeRouter
from rolloutlab.routers.journaled import JournaledRouter
from rolloutlab.routing import HeaderRule, Mirror, RoutingState, preview_rule, split

RUNNING = {"v1", "v2", "v3"}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (RoutingState({}), "has no versions"),
        (RoutingState({"v1": -1, "v2": 2}), r"weights\.v1: weight must be a non-negative integer"),
        (RoutingState({"v1": 0.5}), "non-negative integer"),
        (RoutingState({"v1": True}), "non-negative integer"),
        (RoutingState({"v1": 0, "v2": 0}), "sum to 0"),
        (RoutingState({"v1": 50, "v9": 50}), r"'v9', which is not running \(running: v1, v2, v3\)"),
        (RoutingState({"v1": 1, "v$2": 1}), "is not a version name"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("X_Bad", "1", "v1"),)), r"rules\[0\]\.header: 'X_Bad'"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("x-user-id", "1", "v1"),)), "reserved by the router"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("x-model-version", "v1", "v1"),)), "reserved by the router"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("x-a", "a b", "v1"),)), r"rules\[0\]\.value"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("x-a", "~re", "v1"),)), "not starting with ~"),
        (RoutingState({"v1": 1}, rules=(HeaderRule("x-a", "$host", "v1"),)), r"rules\[0\]\.value"),
        (RoutingState({"v1": 1}, rules=(preview_rule("v2"),)), r"rules\[0\]\.version: 'v2' is not in the state's weights"),
        (RoutingState({"v1": 1, "v2": 0}, rules=(preview_rule("v2"), preview_rule("v1"))), r"rules\[1\]: a rule for"),
        (RoutingState({"v1": 1}, mirror=Mirror("v9", 10)), r"mirror\.version: .*'v9', which is not running"),
        (RoutingState({"v1": 1}, mirror=Mirror("v2", 0)), "mirror.percent must be an integer from 1 to 100"),
        (RoutingState({"v1": 1}, mirror=Mirror("v2", 101)), "mirror.percent"),
        (RoutingState({"v1": 90, "v2": 10}, mirror=Mirror("v2", 10)), "a shadow must take none"),
        (RoutingState({"v1": 1}, sticky="yes"), "sticky must be true or false"),  # type: ignore[arg-type]
    ],
)
def test_invalid_states_are_rejected_with_the_field_named(state: RoutingState, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        state.validate(RUNNING)


def test_a_full_state_validates_and_describes_itself() -> None:
    state = RoutingState({"v1": 3, "v2": 1, "v3": 0}, rules=(preview_rule("v3"),), sticky=True, mirror=None)
    state.validate(RUNNING)
    assert state.share("v1") == 0.75 and state.share("v3") == 0
    assert state.active() == {"v1": 3, "v2": 1}
    assert state.versions == {"v1", "v2", "v3"}
    assert state.describe() == "v1 75%, v2 25%, v3 0%; x-rolloutlab-preview: 1 → v3; sticky by x-user-id"


def test_shadow_is_part_of_the_state() -> None:
    state = RoutingState({"v1": 100}, mirror=Mirror("v2", 20))
    state.validate(RUNNING)
    assert state.versions == {"v1", "v2"}
    assert "mirror 20% → v2" in state.describe()


def test_to_dict_and_from_dict_round_trip() -> None:
    state = RoutingState({"v2": 1, "v1": 9}, generation=7, rules=(HeaderRule("x-beta", "default", "v2"),),
                         sticky=True, mirror=Mirror("v3", 5))
    again = RoutingState.from_dict(state.to_dict())
    assert again == state
    assert list(state.to_dict()["weights"]) == ["v1", "v2"]  # stable order


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping"),
        ({"weights": [1]}, "weights must be a mapping"),
        ({"weights": {"v1": 1}, "colour": "red"}, "unknown field"),
        ({"weights": {"v1": 1}, "rules": [{"header": "x"}]}, r"rules\[0\] must have exactly"),
        ({"weights": {"v1": 1}, "mirror": {"version": "v2"}}, "mirror must have exactly"),
        ({"weights": {"v1": 1}, "generation": -3}, "generation must be a non-negative integer"),
    ],
)
def test_from_dict_names_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(RoutingError, match=f"state.json: .*{message}|{message}"):
        RoutingState.from_dict(data, where="state.json")  # type: ignore[arg-type]


def test_split_gives_the_candidate_its_percent() -> None:
    assert split("v1", "v2", 10) == {"v1": 90, "v2": 10}


def test_fake_router_counts_generations_and_keeps_state_on_failure() -> None:
    router = FakeRouter(RUNNING, RoutingState({"v1": 100}))
    applied = router.apply(RoutingState({"v1": 50, "v2": 50}, rules=(preview_rule("v2"),), reason="half"))
    assert applied.generation == 1 and applied.rules == (preview_rule("v2"),) and applied.reason == "half"
    with pytest.raises(RoutingError, match="not running"):
        router.apply(RoutingState({"v9": 1}))
    router.fail_next = "data plane down"
    with pytest.raises(RoutingError, match="data plane down"):
        router.apply(RoutingState({"v2": 1}))
    assert router.current() == applied and router.history == [applied]


def test_journaled_router_records_applied_and_rejected_states(tmp_path: Path) -> None:
    journal = tmp_path / "routing-journal.jsonl"
    router = JournaledRouter(FakeRouter(RUNNING, RoutingState({"v1": 100})), journal, by="route set")
    router.apply(RoutingState({"v1": 90, "v2": 10}, reason="canary 10%"))
    with pytest.raises(RoutingError):
        router.apply(RoutingState({"v1": 0}, reason="bad"))
    records = read_journal(journal)
    assert [r["event"] for r in records] == ["routing_applied", "routing_rejected"]
    applied, rejected = records
    assert applied["generation"] == 1 and applied["weights"] == {"v1": 90, "v2": 10}
    assert applied["state"]["weights"] == {"v1": 90, "v2": 10} and applied["by"] == "route set"
    assert applied["reason"] == "canary 10%" and applied["ts"] > 0
    assert "sum to 0" in rejected["error"]
    assert router.current().weights == {"v1": 90, "v2": 10}
