"""What a run's report needs beyond its journal, saved into the run directory while the lab is still up.

The journal says what was decided and why; a report also draws what the traffic looked like (request
rates, latency quantiles, errors and rewards per version: Prometheus range queries), who was served by
which version (the slice of each server's prediction log that falls within the run), and what each
version is (tag, faults, held-out accuracy). All of it lands in the run directory, so the report can be
rebuilt after the lab is gone, and the report never reads anything else.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rolloutlab.errors import MetricsUnavailable, RolloutLabError
from rolloutlab.metrics.prometheus import PrometheusSource
from rolloutlab.metrics.queries import BY_VERSION, render_by_version

SERIES_FILE = "series.json"
VERSIONS_FILE = "versions.json"
PREDICTIONS_DIR = "predictions"
FORMAT = 1  # bumped when a file's layout changes; the report says what an older run directory lacks
RATE_WINDOW_S = 5.0  # each point of a series is a rate over this many seconds (five scrapes)
STEP_S = 1.0


def write_json(path: Path, data: Any) -> None:
    """Sorted keys and fixed separators: the same data always gives the same bytes."""
    path.write_text(json.dumps(data, sort_keys=True, indent=1, separators=(",", ": ")) + "\n", encoding="utf-8")


def _finite(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)


def save_series(run_dir: Path, source: PrometheusSource, start: float, end: float) -> Path:
    """Range queries over [start, end] for every by-version series; a query that fails is recorded as such."""
    series: dict[str, dict[str, list[list[float | None]]]] = {}
    errors: dict[str, str] = {}
    for name in sorted(BY_VERSION):
        promql = render_by_version(name, RATE_WINDOW_S)
        try:
            result = source.query_range(promql, start, end, STEP_S, "version")
        except MetricsUnavailable as exc:
            errors[name] = str(exc)
            continue
        series[name] = {version: [[round(t, 3), _finite(v)] for t, v in points]
                        for version, points in sorted(result.items()) if version}
    path = run_dir / SERIES_FILE
    write_json(path, {"format": FORMAT, "start": round(start, 3), "end": round(end, 3), "step_s": STEP_S,
                      "rate_window_s": RATE_WINDOW_S,
                      "queries": {n: render_by_version(n, RATE_WINDOW_S) for n in sorted(BY_VERSION)},
                      "series": series, "errors": errors})
    return path


def save_versions(run_dir: Path, versions: list[str]) -> Path:
    """Each version's identity: bento tag, description, recipe, faults, and held-out evaluation."""
    from rolloutlab import zoo

    catalogue = zoo.load_catalogue()
    identities: dict[str, Any] = {}
    for name in versions:
        entry: dict[str, Any] = {"name": name}
        try:
            spec = catalogue.versions[name]
            entry.update(spec.to_dict())
            entry["tag"] = catalogue.bento_tag(name)
            entry["evaluation"] = zoo.evaluation(catalogue, name)
        except (KeyError, RolloutLabError, OSError) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        identities[name] = entry
    path = run_dir / VERSIONS_FILE
    write_json(path, {"format": FORMAT, "versions": identities})
    return path


def save_predictions(run_dir: Path, versions: list[str], log_of: Callable[[str], Path],
                     start: float, end: float) -> dict[str, int]:
    """Copy each version's prediction-log lines written during the run (predictions/<version>.jsonl.gz);
    returns the lines kept per version."""
    out = run_dir / PREDICTIONS_DIR
    out.mkdir(exist_ok=True)
    kept: dict[str, int] = {}
    for version in versions:
        source = log_of(version)
        lines = []
        if source.is_file():
            with open(source, encoding="utf-8") as log:
                for line in log:
                    try:
                        ts = json.loads(line).get("ts", 0)
                    except (json.JSONDecodeError, AttributeError):
                        continue  # a torn line (a server stopped mid-write) is no evidence
                    if start <= ts <= end:
                        lines.append(line if line.endswith("\n") else line + "\n")
        # Compressed (≈ 10×: a minute at 150 req/s is ≈ 2 MB of JSON), without a timestamp: same lines, same bytes.
        with open(out / f"{version}.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            packed.write("".join(lines).encode("utf-8"))
        kept[version] = len(lines)
    return kept


def save_evidence(run_dir: Path, source: PrometheusSource, versions: list[str],
                  log_of: Callable[[str], Path] | None) -> None:
    """Everything above, over the run's own time span (from its journal); call while the lab still runs."""
    from rolloutlab.report.rundir import JOURNAL, read_records

    records, _ = read_records(run_dir / JOURNAL)
    stamps = [float(r["ts"]) for r in records if isinstance(r.get("ts"), (int, float))]
    if not stamps:
        return
    start, end = min(stamps), max(stamps)
    save_versions(run_dir, versions)
    save_series(run_dir, source, start - RATE_WINDOW_S, end + STEP_S)
    if log_of is not None:
        save_predictions(run_dir, versions, log_of, start, end)
