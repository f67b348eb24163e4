from __future__ import annotations

import pytest

from rolloutlab.analysis.verdict import Verdict
from rolloutlab.routing import PREVIEW_HEADER
from rolloutlab.strategies.base import Outcome
from rolloutlab.strategies.blue_green import BLUE_BEFORE, BlueGreen
from tests.unit.strategy_driver import drive

S, F, I = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE


def phases(verdicts, probes, mirror=None, inconclusive_limit=2):
    steps = drive(BlueGreen("blue", "green", 5.0, 8.0, mirror, inconclusive_limit), verdicts, probes)
    return [s.phase for s in steps], steps[-1]


@pytest.mark.parametrize(
    ("verdicts", "probes", "mirror", "expected_phases", "outcome"),
    [
        ([S], [True], None, ["blue", "smoke", "watch", "done"], Outcome.PROMOTED),
        ([F], [True], None, ["blue", "smoke", "watch", "done"], Outcome.ROLLED_BACK),
        ([], [False], None, ["blue", "smoke", "done"], Outcome.REJECTED),
        ([S, S], [True], 50, ["blue", "smoke", "mirror", "watch", "done"], Outcome.PROMOTED),
        ([F], [True], 50, ["blue", "smoke", "mirror", "done"], Outcome.REJECTED),
        ([I, S], [True], None, ["blue", "smoke", "watch", "watch", "done"], Outcome.PROMOTED),
        ([I, I], [True], None, ["blue", "smoke", "watch", "watch", "done"], Outcome.ROLLED_BACK),
    ],
    ids=["healthy-green-promoted", "watch-failure-rolls-back", "smoke-failure-rejects", "mirror-then-switch",
         "mirror-failure-rejects", "inconclusive-watch-repeats", "inconclusive-limit-rolls-back"],
)
def test_blue_green_phases(verdicts, probes, mirror, expected_phases, outcome) -> None:
    taken, last = phases(verdicts, probes, mirror)
    assert taken == expected_phases and last.outcome is outcome


def test_smoke_tests_reach_green_only_through_the_preview_rule() -> None:
    steps = drive(BlueGreen("blue", "green", 5.0, 8.0), [S], [True])
    smoke = next(s for s in steps if s.phase == "smoke")
    assert smoke.state.weights == {"blue": 100, "green": 0}
    assert [(r.header, r.version) for r in smoke.state.rules] == [(PREVIEW_HEADER, "green")]
    assert smoke.probe is not None and smoke.probe.headers == {PREVIEW_HEADER: "1"}


def test_the_switch_is_one_routing_change_judged_against_blue_before_it() -> None:
    steps = drive(BlueGreen("blue", "green", 5.0, 8.0), [S], [True])
    watch = next(s for s in steps if s.phase == "watch")
    assert watch.state.weights == {"blue": 0, "green": 100} and watch.switch_to == "green"
    assert (watch.judge.version, watch.judge.reference, watch.judge.fallback) == ("green", "blue", BLUE_BEFORE)
    assert watch.hold_s == 8.0
    assert steps[0].record == ("blue", BLUE_BEFORE)


def test_blue_stays_up_until_the_watch_passes_then_is_retired() -> None:
    steps = drive(BlueGreen("blue", "green", 5.0, 8.0), [S], [True])
    assert all(not s.retire for s in steps[:-1])
    assert steps[-1].retire == ("blue",) and steps[-1].state.weights == {"green": 100}


def test_a_failed_watch_puts_everyone_back_on_blue_and_stops_nothing() -> None:
    steps = drive(BlueGreen("blue", "green", 5.0, 8.0), [F], [True])
    assert steps[-1].state.weights == {"blue": 100, "green": 0} and steps[-1].retire == ()


def test_aborting_at_any_phase_falls_back_to_blue() -> None:
    for step in drive(BlueGreen("blue", "green", 5.0, 8.0, 30), [S, I, S], [True])[:-1]:
        assert step.fallback.weights == {"blue": 100, "green": 0} and not step.fallback.rules


def test_sequential_watch_rolls_back_at_once_on_a_conclusive_failure_and_passes_only_after_the_watch() -> None:
    from rolloutlab.analysis.verdict import Assessment, CheckResult, Verdict
    from rolloutlab.strategies.base import Observation, Outcome, ProbeResult, Record
    from rolloutlab.strategies.blue_green import BlueGreen

    def result(verdict: Verdict, conclusive: bool) -> Assessment:
        check = CheckResult("p50_ms", "p50_ms", "v2", "", 1.0, 2.0, "", 10, 50, verdict, "canned", None, conclusive)
        return Assessment(verdict, ("canned",), (check,))

    def run(assessments: list[Assessment]):  # noqa: ANN202
        bg = BlueGreen("v1", "v2", 5.0, 3.0, look=1.0)
        steps, history = [bg.first()], ()
        while not steps[-1].final:
            step = steps[-1]
            observation = Observation(0.0, assessments.pop(0) if step.judge else None,
                                      ProbeResult(True, "ok") if step.probe else None)
            history += (Record(step, observation),)
            steps.append(bg.next(history))
        return steps

    failed = run([result(Verdict.FAILED, True)])
    assert failed[-1].outcome is Outcome.ROLLED_BACK and len([s for s in failed if s.judge]) == 1
    # a non-conclusive failure and passes before the watch's 3 s are not final; the pass at 3 s is
    passed = run([result(Verdict.FAILED, False), result(Verdict.SUCCESSFUL, False), result(Verdict.SUCCESSFUL, False)])
    watch = [s for s in passed if s.judge]
    assert [s.window_s for s in watch] == [1.0, 2.0, 3.0] and watch[0].switch_to == "v2" and watch[1].switch_to is None
    assert passed[-1].outcome is Outcome.PROMOTED
