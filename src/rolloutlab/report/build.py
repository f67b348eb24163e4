"""Build a run's report from its run directory alone: summary.md, report.html and figures/*.png."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rolloutlab.report.figures import render_figures, write_pngs
from rolloutlab.report.html import render_html
from rolloutlab.report.impact import impact
from rolloutlab.report.markdown import render_summary
from rolloutlab.report.rundir import RunData, load_run

SUMMARY = "summary.md"
HTML = "report.html"
FIGURES = "figures"


@dataclass(frozen=True)
class ReportFiles:
    summary: Path
    html: Path
    figures: list[Path]
    problems: list[str]


def build_report(run_dir: Path) -> ReportFiles:
    """(Re)write the run's reports; the same run directory always gives the same bytes."""
    data = load_run(run_dir)
    return write_report(data)


def write_report(data: RunData) -> ReportFiles:
    effect = impact(data)
    figures = render_figures(data, effect)
    folder = data.path / FIGURES
    for stale in folder.glob("*.png") if folder.is_dir() else []:
        stale.unlink()  # a panel that no longer has data must not leave last build's picture behind
    pngs = write_pngs(figures, folder)
    summary = render_summary(data.records, data.load)
    if data.problems:
        summary += "\n## Problems reading this run\n\n" + "".join(f"- {p}\n" for p in data.problems)
    summary += f"\nFull report with figures: {HTML} (figures as 16:9 PNGs in {FIGURES}/).\n"
    (data.path / SUMMARY).write_text(summary, encoding="utf-8")
    html = data.path / HTML
    html.write_text(render_html(data, figures, effect), encoding="utf-8")
    return ReportFiles(data.path / SUMMARY, html, pngs, list(data.problems))
