"""The engine with a fake router and static metrics: decisions, journal, and the safe exits."""

from __future__ import annotations

from pathlib import Path

import pytest

from rolloutlab.engine import CanaryRun
from rolloutlab.journal import Journal, read_journal
from rolloutlab.metrics.queries import render
from rolloutlab.metrics.static import StaticSource
from rolloutlab.routers.fake import FakeRouter
from rolloutlab.routing import RoutingState
from rolloutlab.scenario import Analysis, Scenario, Versions

SCENARIO = Scenario(
    name="t", strategy="canary", versions=Versions(baseline="v1", candidate="v2"), steps=[10, 50, 100],
    analysis=Analysis(interval=1, min_requests=10),
)


def metrics(v2_requests: float, v2_errors: float = 0, v2_p95_s: float = 0.005) -> StaticSource:
    def q(name: str, version: str) -> str:
        return render(name, version, SCENARIO.analysis.interval)

    return StaticSource({
        q("requests", "v2"): v2_requests, q("errors", "v2"): v2_errors, q("p95_seconds", "v2"): v2_p95_s,
        q("requests", "v1"): 500, q("errors", "v1"): 0, q("p95_seconds", "v1"): 0.005,
    })


def make_run(tmp_path: Path, source: StaticSource) -> tuple[CanaryRun, FakeRouter, Path]:
    router = FakeRouter({"v1", "v2"}, RoutingState({"v1": 100, "v2": 0}))
    journal_path = tmp_path / "journal.jsonl"
    run = CanaryRun(SCENARIO, router, source, Journal(journal_path), sleep=lambda _: None)
    run._wait = lambda seconds: None  # no load process, no real time
    return run, router, journal_path


def test_healthy_candidate_is_promoted_step_by_step(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))
    outcome = run.execute()
    assert outcome.outcome == "promoted"
    assert [s.weights["v2"] for s in router.history] == [0, 10, 50, 100]
    events = [r["event"] for r in read_journal(journal)]
    assert events.count("analysis") == 3 and events[0] == "run_started" and events[-1] == "run_finished"


def test_erroring_candidate_is_rolled_back_to_baseline(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100, v2_errors=10))
    outcome = run.execute()
    assert outcome.outcome == "rolled back"
    assert router.current().weights == {"v1": 100, "v2": 0}
    analysis = next(r for r in read_journal(journal) if r["event"] == "analysis")
    assert analysis["verdict"] == "Failed" and analysis["candidate"]["error_rate"] == 0.1


def test_idle_candidate_never_passes(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=3))
    assert run.execute().outcome == "rolled back"
    assert router.current().weights["v2"] == 0


def test_unreachable_metrics_roll_back(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, StaticSource(online=False))
    assert run.execute().outcome == "rolled back"
    verdicts = [r["verdict"] for r in read_journal(journal) if r["event"] == "analysis"]
    assert verdicts == []  # errors are judged without measurements
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_interrupt_puts_traffic_back_on_baseline(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    run._wait = interrupt
    outcome = run.execute()
    assert outcome.outcome == "aborted" and outcome.interrupted
    assert router.current().weights == {"v1": 100, "v2": 0}
    assert read_journal(journal)[-1]["outcome"] == "aborted"


def test_a_bug_still_leaves_traffic_on_baseline(tmp_path: Path) -> None:
    run, router, _ = make_run(tmp_path, metrics(v2_requests=100))

    def boom(*_: object) -> None:
        raise ZeroDivisionError("bug")

    run._analyse = boom
    with pytest.raises(ZeroDivisionError):
        run.execute()
    assert router.current().weights == {"v1": 100, "v2": 0}


def test_full_traffic_step_is_judged_against_the_baseline_measured_alone(tmp_path: Path) -> None:
    source = metrics(v2_requests=100)
    run, _, journal = make_run(tmp_path, source)
    measure_alone = run._measure_full_load_baseline

    def then_baseline_goes_idle() -> None:
        measure_alone()
        source.values[render("requests", "v1", SCENARIO.analysis.interval)] = 0

    run._measure_full_load_baseline = then_baseline_goes_idle
    assert run.execute().outcome == "promoted"
    records = read_journal(journal)
    reference = next(r for r in records if r["event"] == "baseline_reference")
    last = [r for r in records if r["event"] == "analysis"][-1]
    assert last["candidate_percent"] == 100
    assert last["baseline"]["requests"] == 0
    assert last["reference_baseline"] == reference["baseline"] and reference["baseline"]["requests"] == 500
