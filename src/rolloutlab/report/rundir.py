"""Read a run directory for its report: the journal line by line, and whatever evidence the run saved.

Nothing here raises on a damaged or old run directory: every line that cannot be read and every file
that is missing becomes a `problem` the report shows, and the rest is still reported.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rolloutlab.errors import RolloutLabError
from rolloutlab.load.locust_runner import LoadStats
from rolloutlab.report.evidence import PREDICTIONS_DIR, SERIES_FILE, VERSIONS_FILE

JOURNAL = "journal.jsonl"


@dataclass
class RunData:
    path: Path
    records: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    series: dict[str, Any] | None = None
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, list[dict[str, Any]]] | None = None  # by version; None when the run kept none
    load: LoadStats | None = None

    def first(self, event: str) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("event") == event), None)

    def events(self, *names: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") in names]

    @property
    def scenario(self) -> dict[str, Any]:
        started = self.first("run_started")
        return started.get("scenario", {}) if started else {}

    @property
    def strategy(self) -> str:
        return str(self.scenario.get("strategy", "?"))

    @property
    def versions(self) -> list[str]:
        """The scenario's versions, baseline first (rollouts name one candidate, experiments several)."""
        v = self.scenario.get("versions", {})
        names = [v.get("baseline"), *(v.get("candidates") or [v.get("candidate")])]
        seen = [n for n in names if n]
        for r in self.events("routing_applied"):  # a journal without its scenario still names what it routed to
            seen += [n for n in sorted(r.get("weights", {})) if n not in seen]
        return list(dict.fromkeys(seen))

    @property
    def start_ts(self) -> float | None:
        started = self.first("run_started")
        if started is not None:
            return float(started["ts"])
        stamps = [r["ts"] for r in self.records if isinstance(r.get("ts"), (int, float))]
        return float(min(stamps)) if stamps else None

    @property
    def end_ts(self) -> float | None:
        finished = self.first("run_finished")
        if finished is not None:
            return float(finished["ts"])
        stamps = [r["ts"] for r in self.records if isinstance(r.get("ts"), (int, float))]
        return float(max(stamps)) if stamps else None

    @property
    def outcome(self) -> str:
        finished = self.first("run_finished")
        return str(finished.get("outcome", "?")) if finished else "unfinished"

    @property
    def reason(self) -> str:
        finished = self.first("run_finished")
        if finished is not None:
            return str(finished.get("reason", ""))
        last = self.records[-1] if self.records else None
        where = f" after event {last.get('seq', '?')} ({last.get('event', '?')})" if last else ""
        return f"the journal ends{where} without run_finished: the run was cut off (killed, or the machine stopped)"

    def accuracy(self, version: str) -> float | None:
        """Held-out accuracy: the version's saved identity, else a bandit's oracle in the journal."""
        evaluation = (self.identities.get(version) or {}).get("evaluation") or {}
        if evaluation.get("accuracy") is not None:
            return float(evaluation["accuracy"])
        for r in reversed(self.events("decision")):
            oracle = (r.get("notes") or {}).get("oracle") or {}
            if version in oracle:
                return float(oracle[version])
        return None


def read_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable journal record, and one problem per line that is not a JSON object with an event."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name}:{number}: unreadable line ({exc.msg} at column {exc.colno}): "
                            f"{line[:80]!r}{'…' if len(line) > 80 else ''}; skipped")
            continue
        if not isinstance(record, dict) or "event" not in record:
            problems.append(f"{path.name}:{number}: not a journal record (no `event`): {line[:80]!r}; skipped")
            continue
        records.append(record)
    return records, problems


def _read_json(path: Path, problems: list[str], missing: str) -> Any:
    if not path.is_file():
        problems.append(f"{path.name} is missing: {missing}")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name} is unreadable ({exc}): {missing}")
        return None


def _read_predictions(run_dir: Path, versions: list[str], problems: list[str]) -> dict[str, list[dict[str, Any]]] | None:
    folder = run_dir / PREDICTIONS_DIR
    if not folder.is_dir():
        problems.append(f"{PREDICTIONS_DIR}/ is missing (a run directory from an older version of the lab): "
                        "no per-user figures (who the candidate served, regret from the served answers)")
        return None
    found: dict[str, list[dict[str, Any]]] = {}
    for version in versions:
        found[version] = []
        path = folder / f"{version}.jsonl.gz"
        if path.is_file():
            try:
                text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
            except (OSError, EOFError) as exc:  # a truncated copy: say so, keep what the rest shows
                problems.append(f"{PREDICTIONS_DIR}/{path.name} is unreadable ({exc}); its version's users are not counted")
                continue
        elif (path := folder / f"{version}.jsonl").is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
        else:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                found[version].append(json.loads(line))
            except json.JSONDecodeError:
                problems.append(f"{PREDICTIONS_DIR}/{path.name}:{number}: unreadable line; skipped")
    return found


def _read_load(run_dir: Path) -> LoadStats | None:
    path = run_dir / "load" / "locust_stats.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle) if row.get("Name")}
    row = rows.get("/predict") or rows.get("Aggregated")
    if row is None:
        return None
    try:
        return LoadStats(int(row["Request Count"]), int(row["Failure Count"]), float(row["Requests/s"]),
                         float(row["50%"] or "nan"), float(row["95%"] or "nan"))
    except (KeyError, ValueError):
        return None


def load_run(run_dir: Path) -> RunData:
    """Everything the report may use from run_dir; raises only when there is no journal at all."""
    journal = run_dir / JOURNAL
    if not journal.is_file():
        raise RolloutLabError(f"{run_dir} has no {JOURNAL}; is it a run directory?")
    records, problems = read_records(journal)
    data = RunData(run_dir, records, problems)
    if data.first("run_started") is None:
        problems.append("the journal has no run_started record: scenario, settings and seed are unknown")
    if data.first("run_finished") is None:
        problems.append(f"the run did not finish: {data.reason}")
    data.series = _read_json(run_dir / SERIES_FILE, problems,
                             "no request-rate, latency, error or reward panels (a run directory from an older "
                             "version of the lab, or a run that ended before Prometheus was asked)")
    if data.series and data.series.get("errors"):
        for name, message in sorted(data.series["errors"].items()):
            problems.append(f"{SERIES_FILE}: series {name} could not be fetched: {message}")
    identities = _read_json(run_dir / VERSIONS_FILE, problems,
                            "no version identities (tags, faults, held-out accuracy) beyond the journal")
    data.identities = (identities or {}).get("versions", {}) if isinstance(identities, dict) else {}
    data.predictions = _read_predictions(run_dir, data.versions, problems)
    data.load = _read_load(run_dir)
    return data
