"""The engine with a fake router and static metrics: decisions, journal, and the safe exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.engine import Engine
from rolloutlab.journal import Journal, read_journal
from rolloutlab.metrics.queries import render, render_metric
from tests.fakes.static_metrics import StaticSource
from tests.fakes.fake_router import FakeRouter
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import Analysis, BlueGreenScenario, CanaryScenario, Versions
from rolloutlab.strategies.base import Probe, ProbeResult
from rolloutlab.strategies.factory import strategy_for

ANALYSIS = Analysis(interval=3, min_requests=10, min_feedback=10)
CANARY = CanaryScenario(name="t", strategy="canary", versions=Versions(baseline="v1", candidate="v2"),
                        steps=[10, 50, 100], analysis=ANALYSIS)
BLUE_GREEN = BlueGreenScenario(name="bg", strategy="blue-green", versions=Versions(baseline="v1", candidate="v2"),
                               analysis=ANALYSIS, watch=3)


def version_values(version: str, requests: float, errors: float = 0, p95_ms: float = 5.0, accuracy: float = 0.95,
                   memory: float = 100.0, window: float = 3) -> dict[str, float]:
    feedback = requests * 0.8
    return {
        render("requests", version, window): requests, render("errors", version, window): errors,
        render("p95_seconds", version, window): p95_ms / 1000, render("feedback", version, window): feedback,
        render("reward", version, window): feedback * accuracy,
        render_metric("error_rate", version, window): errors / requests if requests else float("nan"),
        render_metric("p95_ms", version, window): p95_ms,
        render_metric("accuracy", version, window): accuracy if feedback else float("nan"),
        render_metric("memory_per_request", version, window): memory,
    }


def metrics(v2_requests: float, v2_errors: float = 0, v2_p95_ms: float = 5.0, v2_accuracy: float = 0.99,
            v2_memory: float = 100.0) -> StaticSource:
    return StaticSource({**version_values("v1", 500, accuracy=0.94),
                         **version_values("v2", v2_requests, v2_errors, v2_p95_ms, v2_accuracy, v2_memory)})


class Hooks:
    def __init__(self, smoke_passes: bool = True) -> None:
        self.smoke_passes = smoke_passes
        self.retired: list[str] = []
        self.switched: list[str] = []

    def smoke(self, probe: Probe) -> ProbeResult:
        return ProbeResult(self.smoke_passes, f"canned smoke of {probe.version}")

    def time_switch(self, version: str, applied_at: float) -> dict[str, float | None]:
        self.switched.append(version)
        return {"apply_s": 0.1, "switch_s": 0.2, "failed_requests": 0}

    def retire(self, version: str) -> str:
        self.retired.append(version)
        return f"stopped {version}"


def make_run(tmp_path: Path, source: StaticSource, scenario=CANARY, hooks: Hooks | None = None):
    router = FakeRouter({"v1", "v2"}, RoutingState({"v1": 100, "v2": 0}))
    journal_path = tmp_path / "journal.jsonl"
    run = Engine(scenario, strategy_for(scenario), router, source, Journal(journal_path), hooks=hooks,
                 sleep=lambda _: None)
    run._wait = lambda seconds: None  # no load process, no real time
    return run, router, journal_path


def test_healthy_candidate_is_promoted_step_by_step(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))
    outcome = run.execute()
    assert outcome.outcome == "promoted"
    assert [s.weights["v2"] for s in router.history] == [0, 10, 50, 100]
    events = [r["event"] for r in read_journal(journal)]
    assert events.count("analysis") == 3 and events[0] == "run_started" and events[-1] == "run_finished"


def test_every_check_is_journalled_with_query_value_threshold_and_verdict(tmp_path: Path) -> None:
    run, _, journal = make_run(tmp_path, metrics(v2_requests=100))
    run.execute()
    analysis = next(r for r in read_journal(journal) if r["event"] == "analysis")
    by_name = {c["name"]: c for c in analysis["checks"]}
    assert set(by_name) == {"error_rate", "p95_ms", "accuracy", "memory_per_request"}
    accuracy = by_name["accuracy"]
    assert "rolloutlab_reward_total" in accuracy["query"] and accuracy["value"] == 0.99
    assert accuracy["threshold"] == pytest.approx(0.94 - 0.03) and accuracy["verdict"] == "Successful"


@pytest.mark.parametrize(
    ("bad", "check"),
    [(dict(v2_errors=10), "error_rate"), (dict(v2_p95_ms=80.0), "p95_ms"), (dict(v2_accuracy=0.79), "accuracy"),
     (dict(v2_memory=65536.0), "memory_per_request")],
    ids=["errors", "latency", "model-quality", "memory-leak"],
)
def test_a_candidate_failing_any_default_check_is_rolled_back(tmp_path: Path, bad: dict, check: str) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100, **bad))
    assert run.execute().outcome == "rolled back"
    assert router.current().weights == {"v1": 100, "v2": 0}
    analysis = next(r for r in read_journal(journal) if r["event"] == "analysis")
    failed = [c["name"] for c in analysis["checks"] if c["verdict"] == "Failed"]
    assert analysis["verdict"] == "Failed" and failed == [check]


def test_idle_candidate_never_passes(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=3))
    assert run.execute().outcome == "rolled back"
    assert router.current().weights["v2"] == 0


def test_unreachable_metrics_abort_and_never_blame_the_candidate(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, StaticSource(online=False))
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.reason.startswith("metrics unavailable")
    records = read_journal(journal)
    # No verdict was drawn from missing data: no decision followed a judged window.
    assert [r["verdict"] for r in records if r["event"] == "decision"] == [None]
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_interrupt_puts_traffic_back_on_baseline(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))
    calls = []

    def interrupt(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 2:  # during the first canary step
            raise KeyboardInterrupt

    run._wait = interrupt
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.interrupted
    assert router.history[-2].weights == {"v1": 90, "v2": 10}
    assert router.current().weights == {"v1": 100, "v2": 0}
    assert read_journal(journal)[-1]["outcome"] == "aborted"


def test_a_bug_still_leaves_traffic_on_baseline(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=100))

    def boom(*_: object) -> None:
        raise ZeroDivisionError("bug")

    run._judge = boom
    with pytest.raises(ZeroDivisionError):
        run.execute()
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_full_traffic_step_is_judged_against_the_baseline_measured_alone(tmp_path: Path) -> None:
    source = metrics(v2_requests=100)
    run, router, journal = make_run(tmp_path, source)
    apply = router.apply

    def baseline_goes_idle_at_full_canary(state: RoutingState) -> RoutingState:
        if state.weights.get("v2") == 100:
            source.values.update(version_values("v1", 0))
        return apply(state)

    router.apply = baseline_goes_idle_at_full_canary
    assert run.execute().outcome == "promoted"
    records = read_journal(journal)
    reference = next(r for r in records if r["event"] == "reference_recorded")
    last = [r for r in records if r["event"] == "analysis"][-1]
    assert last["candidate_percent"] == 100
    assert last["baseline"]["requests"] == 0
    assert last["reference_baseline"] == reference["baseline"] and reference["baseline"]["requests"] == 500
    assert all(c["verdict"] == "Successful" for c in last["checks"])


def test_blue_green_switches_once_watches_then_retires_blue(tmp_path: Path) -> None:
    hooks = Hooks()
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100), BLUE_GREEN, hooks)
    assert run.execute().outcome == "promoted"
    weights = [s.weights for s in router.history]
    assert weights == [{"v1": 100, "v2": 0}, {"v1": 100, "v2": 0}, {"v1": 0, "v2": 100}, {"v2": 100}]
    assert router.history[1].rules  # the preview route for the smoke tests
    assert hooks.switched == ["v2"] and hooks.retired == ["v1"]
    events = [r["event"] for r in read_journal(journal)]
    assert "smoke" in events and "switch" in events and "retired" in events


def test_blue_green_failed_smoke_never_gives_green_user_traffic(tmp_path: Path) -> None:
    hooks = Hooks(smoke_passes=False)
    run, router, _ = make_run(tmp_path, metrics(v2_requests=100), BLUE_GREEN, hooks)
    assert run.execute().outcome == "rejected"
    assert all(s.weights.get("v2", 0) == 0 and not s.mirror for s in router.history)
    assert router.current().rules == () and hooks.retired == []


def test_blue_green_abort_after_the_switch_goes_back_to_blue(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=100), BLUE_GREEN, Hooks())

    def interrupt_in_watch(seconds: float) -> None:
        if router.current().weights.get("v2") == 100:
            raise KeyboardInterrupt

    run._wait = interrupt_in_watch
    assert run.execute().outcome == "aborted"
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_a_counter_prometheus_cannot_read_is_left_out_of_the_tally_never_counted_as_zero(tmp_path: Path) -> None:
    from rolloutlab.metrics.queries import COUNTERS, render_counter

    values = {render_counter(n, "v1"): 100.0 for n in COUNTERS}
    source = StaticSource(values)
    run, _, journal = make_run(tmp_path, source)
    assert set(run._tally(("v1", "v2"))) == {"v1"}  # v2's counters are missing (a timed-out scrape)
    source.values.update({render_counter(n, "v1"): 150.0 for n in COUNTERS})
    source.values.update({render_counter(n, "v2"): 40.0 for n in COUNTERS})
    tallies = run._tally(("v1", "v2"))
    assert tallies["v1"].requests == 50.0 and tallies["v2"].requests == 0.0  # v2 counts from its first reading
    assert any("tally of v2" in r.get("message", "") for r in read_journal(journal) if r["event"] == "error")


def test_a_sequential_canary_judges_the_growing_window_and_stops_at_the_first_conclusive_failure(tmp_path: Path) -> None:
    from rolloutlab.metrics.queries import render_bucket
    from rolloutlab.sim.histogram import LATENCY_BUCKETS

    scenario = CANARY.model_copy(update={"analysis": ANALYSIS.model_copy(update={"mode": "sequential", "look": 1.0})})
    values: dict[str, float] = {}
    for window in (2, 3):  # v2 answers 30 requests per window, 6 of them 5xx: far past 1 % after one look
        values.update(version_values("v1", 500, accuracy=0.94, window=window))
        values.update(version_values("v2", 30, errors=6, window=window))
        values.update({render_bucket("v2", le, window): 30.0 for le in (*LATENCY_BUCKETS, float("inf"))})
    run, router, journal = make_run(tmp_path, StaticSource(values), scenario=scenario)
    assert run.execute().outcome == "rolled back"
    analyses = [r for r in read_journal(journal) if r["event"] == "analysis"]
    assert [a["window_s"] for a in analyses] == [1.0]  # the baseline window is recorded, the first look decides
    error_rate = next(c for c in analyses[0]["checks"] if c["name"] == "error_rate")
    assert error_rate["verdict"] == "Failed" and error_rate["conclusive"] is True
    assert router.current().weights == {"v1": 100, "v2": 0}
