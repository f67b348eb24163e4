"""Reports built from run directories recorded by real runs (tests/fixtures/reports), checked on content."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from rolloutlab.report.build import build_report
from rolloutlab.report.comparison import build_comparison
from rolloutlab.report.impact import impact
from rolloutlab.report.rundir import load_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
COMPARISON = FIXTURES / "compare-bad-release"
RUNS = {p.name.split("-", 2)[2]: p for p in sorted((COMPARISON / "runs").iterdir())}


def copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def outputs(run_dir: Path) -> dict[str, bytes]:
    files = [run_dir / "summary.md", run_dir / "report.html", *sorted((run_dir / "figures").glob("*.png"))]
    return {f.name: f.read_bytes() for f in files}


def test_canary_report_shows_every_check_with_its_query_value_threshold_and_verdict(tmp_path: Path) -> None:
    run_dir = copy(RUNS["canary-slow"], tmp_path)
    files = build_report(run_dir)
    html = files.html.read_text()
    assert files.problems == []
    assert "ROLLED BACK" in html and "1 failed analysis(es) at 10% (limit 1)" in html
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    failed = next(r for r in journal if r["event"] == "analysis" and r["verdict"] == "Failed")
    p95 = next(c for c in failed["checks"] if c["name"] == "p95_ms")
    assert p95["verdict"] == "Failed"
    # The check's PromQL, its bound and its verdict, as the journal recorded them.
    assert "histogram_quantile(0.95" in html and p95["bound"].replace(">", "&gt;").replace("<", "&lt;") in html
    assert {f.stem for f in files.figures} == {"weights", "rps", "latency", "errors"}
    versions = json.loads((run_dir / "versions.json").read_text())["versions"]
    assert versions["slow"]["tag"] in html and "&quot;median_ms&quot;: 60" in html  # identity: tag and faults
    assert "seed" in html and "&quot;seed&quot;: 42" in html


def test_figures_are_16_by_9_pngs(tmp_path: Path) -> None:
    from PIL import Image

    files = build_report(copy(RUNS["bluegreen-bad-release"], tmp_path))
    for png in files.figures:
        with Image.open(png) as image:
            assert image.size == (1920, 1080), png


def test_a_rebuilt_report_is_byte_identical(tmp_path: Path) -> None:
    run_dir = copy(RUNS["shadow-slow"], tmp_path)
    build_report(run_dir)
    first = outputs(run_dir)
    build_report(run_dir)
    assert outputs(run_dir) == first
    other = copy(RUNS["shadow-slow"], tmp_path / "elsewhere")
    build_report(other)
    assert outputs(other)["report.html"] == first["report.html"]  # nothing of where or when it was built


def test_blast_radius_counts_users_the_candidate_answered_and_not_mirrored_copies() -> None:
    numbers = {}
    for name, run_dir in RUNS.items():
        effect = impact(load_run(run_dir), slo_ms=50, bad=["slow"])
        assert effect is not None
        numbers[name] = effect
    shadow = numbers["shadow-slow"].versions["slow"]
    assert shadow.requests == 0 and shadow.users == 0 and shadow.mirrored > 500  # users never saw it
    canary, bluegreen = numbers["canary-slow"].blast(["slow"]), numbers["bluegreen-bad-release"].blast(["slow"])
    assert 0 < canary[0] < bluegreen[0] and 0 < canary[1] < bluegreen[1]
    # Recount from the raw log: users' answers from slow, by distinct user, probes and mirrored copies apart.
    lines = [json.loads(x) for x in gzip.decompress(
        (RUNS["canary-slow"] / "predictions" / "slow.jsonl.gz").read_bytes()).decode().splitlines()]
    users = {x["user"] for x in lines if x["kind"] == "prediction" and not x["mirrored"] and x["user"] not in (None, "probe")}
    assert canary[1] == len(users)


def test_comparison_of_a_bad_release_puts_canary_between_shadow_and_blue_green(tmp_path: Path) -> None:
    folder = copy(COMPARISON, tmp_path)
    files = build_comparison(folder)
    markdown = files.markdown.read_text()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in markdown.splitlines()
            if line.startswith("| ") and "scenario" not in line}
    assert set(rows) == {"canary-slow", "bluegreen-bad-release", "shadow-slow"}
    served = {name: int(cells[4]) for name, cells in rows.items()}
    assert served["shadow-slow"] == 0 < served["canary-slow"] < served["bluegreen-bad-release"]
    assert all(cells[2] in ("rolled back", "rejected") for cells in rows.values())
    html = files.html.read_text()
    assert html.count('href="runs/') == 3 and "<svg" in html
    first = {p.name: p.read_bytes() for p in [files.html, files.markdown, *files.figures]}
    build_comparison(folder)
    assert {p.name: p.read_bytes() for p in [files.html, files.markdown, *files.figures]} == first


def test_a_corrupt_journal_line_is_named_by_its_number_and_the_rest_still_reported(tmp_path: Path) -> None:
    run_dir = copy(RUNS["canary-slow"], tmp_path)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    lines[4] = lines[4][: len(lines[4]) // 2]  # torn in the middle
    lines.insert(7, "\x00\x00 not json")
    journal.write_text("\n".join(lines) + "\n")
    files = build_report(run_dir)
    assert any(p.startswith("journal.jsonl:5: unreadable line") for p in files.problems), files.problems
    assert any(p.startswith("journal.jsonl:8: unreadable line") for p in files.problems), files.problems
    html = files.html.read_text()
    assert "journal.jsonl:5: unreadable line" in html and "ROLLED BACK" in html
    assert {f.stem for f in files.figures} >= {"weights", "latency"}


def test_a_run_cut_off_mid_write_says_it_did_not_finish(tmp_path: Path) -> None:
    run_dir = copy(RUNS["bluegreen-bad-release"], tmp_path)
    journal = run_dir / "journal.jsonl"
    text = journal.read_text()
    journal.write_text(text[: len(text) * 2 // 3])  # the process died: no run_finished, a torn last line
    files = build_report(run_dir)
    html = files.html.read_text()
    assert "UNFINISHED" in html and "without run_finished: the run was cut off" in html
    assert any("unreadable line" in p for p in files.problems)
    assert "weights" in {f.stem for f in files.figures}


@pytest.mark.parametrize("name", ["older-bandit-thompson", "older-gate-degraded"])
def test_a_run_directory_from_an_older_lab_renders_and_says_what_it_lacks(tmp_path: Path, name: str) -> None:
    run_dir = copy(FIXTURES / name, tmp_path)
    files = build_report(run_dir)
    missing = " ".join(files.problems)
    assert "series.json is missing" in missing and "predictions/ is missing" in missing
    html = files.html.read_text()
    assert "This report is incomplete" in html and "series.json is missing" in html
    if name == "older-bandit-thompson":
        assert {f.stem for f in files.figures} == {"weights", "rewards", "p_best"}  # from the journal alone
        assert "WINNER" in html and "Bandit rounds" in html
    else:
        assert "REJECTED" in html and "offline_eval" in html


def test_a_directory_without_a_journal_is_refused_with_its_name(tmp_path: Path) -> None:
    from rolloutlab.errors import RolloutLabError

    with pytest.raises(RolloutLabError, match="has no journal.jsonl"):
        build_report(tmp_path)


def test_an_aborted_run_still_has_a_report_that_says_so_and_why(tmp_path: Path) -> None:
    run_dir = copy(FIXTURES / "aborted-canary-basic", tmp_path)  # `rolloutlab run canary-basic`, then SIGTERM
    files = build_report(run_dir)
    html = files.html.read_text()
    assert "ABORTED" in html and "interrupted by the user" in html
    assert "routing all traffic back" not in html  # the reason is the journal's, not a progress line
    assert "abort: interrupted by the user" in html  # the rollback to the baseline is in the timeline
    assert "weights" in {f.stem for f in files.figures}
    assert "# canary-basic: ABORTED" in files.summary.read_text()


def test_a_sequential_run_says_when_each_check_became_conclusive() -> None:
    from rolloutlab.report.markdown import _conclusive

    def look(window: float, error: str, p95: str, conclusive: bool) -> dict:
        return {"event": "analysis", "label": "step 1/3: v2 at 10%", "window_s": window, "checks": [
            {"name": "error_rate", "verdict": error, "samples": window * 6, "conclusive": False},
            {"name": "p95_ms", "verdict": p95, "samples": window * 6, "conclusive": conclusive}]}

    records = [{"event": "run_started", "scenario": {"analysis": {"mode": "sequential"}}},
               look(1.0, "Inconclusive", "Inconclusive", False), look(2.0, "Inconclusive", "Failed", True),
               look(9.0, "Successful", "Failed", True)]
    table = "\n".join(_conclusive(records))
    assert "| step 1/3: v2 at 10% | p95_ms | Failed | 2.0s | 12 | always-valid test |" in table
    assert "| step 1/3: v2 at 10% | error_rate | Successful | 9.0s | 54 | minimum exposure reached |" in table
    assert _conclusive([{"event": "run_started", "scenario": {"analysis": {"mode": "fixed"}}}]) == []
