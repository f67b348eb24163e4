"""The engine when a part of the lab fails mid-run: whose fault it is, what the run ends as, what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab import interrupts
from rolloutlab.engine import Engine
from rolloutlab.faults import Fault, classify
from rolloutlab.journal import Journal, read_journal
from rolloutlab.metrics.queries import render_router_errors
from tests.fakes.static_metrics import StaticSource
from tests.fakes.fake_router import FakeRouter
from rolloutlab.routing import RoutingState
from rolloutlab.strategies.factory import strategy_for
from tests.unit.test_engine import CANARY, metrics

CANDIDATE_GONE = Fault("model v2", "the server of v2 (pid 2) exited", "v2")
BASELINE_GONE = Fault("model v1", "the server of v1 (pid 1) exited", "v1")
NGINX_GONE = Fault("nginx", "the router is gone: nginx (pid 3) is not running")


class Watch:
    """Reports `faults` once the canary's first step (v2 at 10 %) is in force, as a SIGKILL then would."""

    def __init__(self, router: FakeRouter, faults: list[Fault]) -> None:
        self.router, self.later = router, faults

    def faults(self) -> list[Fault]:
        return self.later if self.router.current().weights.get("v2", 0) > 0 else []


class Load:
    def __init__(self, router: FakeRouter, dies: bool) -> None:
        self.router, self.dies = router, dies

    def start(self) -> object:
        return None

    def alive(self) -> bool:
        return not (self.dies and self.router.current().weights.get("v2", 0) > 0)

    def stop(self) -> None:
        pass


def make_run(tmp_path: Path, source: StaticSource, faults: list[Fault] = (), load_dies: bool = False):
    router = FakeRouter({"v1", "v2"}, RoutingState({"v1": 100, "v2": 0}))
    journal = tmp_path / "journal.jsonl"
    run = Engine(CANARY, strategy_for(CANARY), router, source, Journal(journal), sleep=lambda _: None,
                 load=Load(router, load_dies), watch=Watch(router, list(faults)))
    run._wait = lambda seconds: run._check() and None  # one look per hold, no real time
    return run, router, journal


def on_apply(router: FakeRouter, when, then) -> None:  # noqa: ANN001
    """Run `then()` as a routing state for which `when(state)` holds is applied (a fault at that moment)."""
    apply = router.apply

    def applying(state: RoutingState) -> RoutingState:
        if when(state):
            then()
        return apply(state)

    router.apply = applying


def first_step(state: RoutingState) -> bool:
    return state.weights.get("v2") == 10


@pytest.fixture(autouse=True)
def no_pending_interrupt():
    interrupts.reset()
    yield
    interrupts.reset()


def test_only_a_candidates_own_server_is_its_fault() -> None:
    prometheus = Fault("prometheus", "metrics unavailable: prometheus (pid 4) exited")
    own, lab = classify([CANDIDATE_GONE, BASELINE_GONE, prometheus], {"v2"})
    assert own == [CANDIDATE_GONE] and lab == [BASELINE_GONE, prometheus]


def test_candidate_server_gone_rolls_back_at_once_on_its_users_errors(tmp_path: Path) -> None:
    source = metrics(v2_requests=100)
    source.values[render_router_errors("v2", 3)] = 37.0
    run, router, journal = make_run(tmp_path, source, [CANDIDATE_GONE])
    outcome = run.execute()
    assert outcome.outcome == "rolled back" and outcome.analyses == 1
    assert router.current().weights == {"v1": 100, "v2": 0}
    analysis = next(r for r in read_journal(journal) if r["event"] == "analysis")
    assert analysis["verdict"] == "Failed" and analysis["router_errors"] == 37
    assert "v2 (pid 2) exited" in analysis["reasons"][0] and "37 errors" in analysis["reasons"][0]


def test_baseline_server_gone_aborts_as_an_infrastructure_fault_never_promotes(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100), [BASELINE_GONE])
    outcome = run.execute()
    assert outcome.outcome == "aborted"
    assert outcome.reason == "infrastructure fault: the server of v1 (pid 1) exited"
    assert router.current().weights == {"v1": 100, "v2": 0}
    records = read_journal(journal)
    assert [r["component"] for r in records if r["event"] == "fault"] == ["model v1"]
    assert not [r for r in records if r["event"] == "analysis"]


def test_load_generator_gone_aborts_load_stopped(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=100), load_dies=True)
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.reason.startswith("load stopped")
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_prometheus_going_away_mid_run_aborts_metrics_unavailable(tmp_path: Path) -> None:
    source = metrics(v2_requests=100)
    run, router, journal = make_run(tmp_path, source)
    on_apply(router, first_step, lambda: setattr(source, "online", False))
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.reason == "metrics unavailable: Prometheus does not answer"
    assert [r["verdict"] for r in read_journal(journal) if r["event"] == "decision"] == [None]  # the baseline window


def test_an_interrupt_swallowed_by_other_code_is_still_acted_on(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))
    # What the handler records before it raises; the KeyboardInterrupt itself is lost somewhere.
    on_apply(router, first_step, lambda: interrupts._requested.append("SIGINT"))
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.interrupted
    assert router.current().weights == {"v1": 100, "v2": 0}
    assert read_journal(journal)[-1]["outcome"] == "aborted"


def test_a_failed_rollback_is_loud_and_says_where_traffic_is(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100), [NGINX_GONE])
    on_apply(router, lambda state: state.reason.startswith("abort"),
             lambda: setattr(router, "fail_next", "nginx (pid 3) is not running; is the lab up?"))
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.rollback_failed
    assert "the router is gone" in outcome.reason and "ROLLBACK FAILED" in outcome.reason
    records = read_journal(journal)
    failed = next(r for r in records if r["event"] == "rollback_failed")
    assert failed["target"] == "v1" and "v1 90%" in failed["in_force"]
    assert records[-1]["event"] == "run_finished" and records[-1]["rollback_failed"] is True


def test_restarted_candidate_counters_give_no_negative_tally(tmp_path: Path) -> None:
    from rolloutlab.metrics.queries import COUNTERS, render_counter

    source = StaticSource({render_counter(name, "v2"): 500.0 for name in COUNTERS})
    run, _, journal = make_run(tmp_path, source)
    run._tally(("v2",))  # the zero point: 500 each
    source.values.update({render_counter(name, "v2"): 20.0 for name in COUNTERS})  # restarted: began at 0
    tally = run._tally(("v2",))["v2"]
    assert (tally.requests, tally.feedback, tally.reward) == (20.0, 20.0, 20.0)
    assert any("went back" in r.get("message", "") for r in read_journal(journal) if r["event"] == "error")


def test_a_failed_query_that_was_prometheus_dying_names_prometheus(tmp_path: Path) -> None:
    # The kill lands while a query is in flight: the query fails first, the watch sees the exit right after.
    source = metrics(v2_requests=100)
    prometheus = Fault("prometheus", "metrics unavailable: prometheus (pid 4) exited")
    run, router, journal = make_run(tmp_path, source)
    seen = []
    run.watch.faults = lambda: [prometheus] if source.online is False and (seen.append(1) or len(seen) > 2) else []
    on_apply(router, first_step, lambda: setattr(source, "online", False))
    outcome = run.execute()
    assert outcome.outcome == "aborted"
    assert outcome.reason == ("infrastructure fault: metrics unavailable: prometheus (pid 4) exited "
                              "(metrics unavailable: Prometheus does not answer)")
    assert [r["component"] for r in read_journal(journal) if r["event"] == "fault"] == ["prometheus"]
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_a_failed_query_with_every_part_running_says_what_failed(tmp_path: Path) -> None:
    source = metrics(v2_requests=100)
    run, router, _ = make_run(tmp_path, source)
    on_apply(router, first_step, lambda: setattr(source, "online", False))
    assert run.execute().reason == "metrics unavailable: Prometheus does not answer"
