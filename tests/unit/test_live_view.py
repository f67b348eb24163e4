"""The engine's structured events and the live view they feed (rich, rendered to a string)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from rolloutlab.cli.live import LiveView
from rolloutlab.journal import read_journal
from tests.unit.test_engine import make_run, metrics


def test_engine_events_mirror_the_journal_and_announce_each_hold(tmp_path: Path) -> None:
    run, _router, journal = make_run(tmp_path, metrics(v2_requests=100))
    seen: list[tuple[str, dict]] = []
    run.on_event = lambda kind, data: seen.append((kind, data))
    run.execute()
    recorded = read_journal(journal)
    assert [d for k, d in seen if k not in ("hold", "message")] == recorded  # every record, as written, in order
    holds = [d for k, d in seen if k == "hold"]
    steps = [r for r in recorded if r["event"] == "step" and r["hold_s"] > 0]
    assert [h["label"] for h in holds] == [s["label"] for s in steps] and len(holds) == 4  # reference + 3 steps
    assert all(h["seconds"] == 3 for h in holds)
    assert any(k == "message" and "PROMOTED" in d["text"] for k, d in seen)


def test_a_broken_view_never_stops_the_rollout(tmp_path: Path) -> None:
    run, router, journal = make_run(tmp_path, metrics(v2_requests=100))

    def broken(kind: str, data: dict) -> None:
        raise ValueError("view bug")

    run.on_event = broken
    assert run.execute().outcome == "promoted"
    assert any(r["event"] == "error" and "live view stopped" in r["message"] for r in read_journal(journal))


def test_live_view_shows_phase_weights_traffic_verdict_and_progress() -> None:
    out = io.StringIO()
    view = LiveView("canary-slow", Console(file=out, force_terminal=True, width=110, color_system=None))
    view.event("routing_applied", {"weights": {"v1": 90, "slow": 10}, "phase": "canary", "routing": {"mirror": None}})
    view.event("hold", {"label": "step 1/3: slow at 10%", "phase": "canary", "seconds": 6.0, "since": 0})
    assert view.hold is not None
    view.hold = (view.hold[0] - 3.0, 6.0)  # half-way through the interval
    view.event("live", {"versions": {"v1": {"rps": 135.0, "p95_ms": 12.5, "errors_per_s": 0.0, "reward_per_s": 50.0,
                                            "feedback_per_s": 53.0},
                                     "slow": {"rps": 15.0, "p95_ms": 190.2, "errors_per_s": 0.3}}})
    view.event("analysis", {"verdict": "Failed", "label": "step 1/3", "reasons": ["p95_ms 185.8 ms breaks ≤ 1.5 × v1"]})
    view.console.print(view._render())
    rendered = out.getvalue()
    for expected in ("phase: canary", "step 1/3: slow at 10%", "v1", "90%", "slow", "10%", "135.0", "190.2 ms",
                     "2.00%", "94.3%", "last verdict: Failed", "p95_ms 185.8 ms", "3s / 6s", "━"):
        assert expected in rendered, (expected, rendered)
