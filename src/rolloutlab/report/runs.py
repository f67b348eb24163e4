"""Past runs, read from their journals (newest first)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.journal import read_journal


@dataclass(frozen=True)
class RunInfo:
    path: Path
    started: str
    scenario: str
    strategy: str
    outcome: str
    duration: str


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """One line per run directory that has a journal; a run cut off without run_finished says so."""
    found = []
    for journal in sorted(runs_dir.glob("*/journal.jsonl"), key=lambda p: p.parent.name, reverse=True):
        records = read_journal(journal)
        started = next((r for r in records if r.get("event") == "run_started"), None)
        finished = next((r for r in records if r.get("event") == "run_finished"), None)
        if started is None:
            continue
        when = dt.datetime.fromtimestamp(started["ts"]).strftime("%Y-%m-%d %H:%M:%S")
        scenario = started.get("scenario", {})
        duration = f"{finished['ts'] - started['ts']:.0f}s" if finished else "–"
        found.append(RunInfo(journal.parent, when, scenario.get("name", "?"), started.get("strategy", "?"),
                             finished["outcome"] if finished else "unfinished", duration))
    return found
