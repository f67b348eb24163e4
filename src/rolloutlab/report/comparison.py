"""One comparison of several runs on the same versions and load: a table, two 16:9 figures, Markdown and HTML.

Built from the comparison's folder alone (comparison.json and the run directories inside it), so it can
be rebuilt any time with `rolloutlab report FOLDER`, and the same folder always gives the same bytes.
"""

from __future__ import annotations

import io
import textwrap
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from rolloutlab.errors import RolloutLabError
from rolloutlab.report.figures import COLOURS, PNG_DPI, RC, SIZE_IN
from rolloutlab.report.html import CSS, badge, table, time_to_decision
from rolloutlab.report.impact import Impact, impact
from rolloutlab.report.rundir import RunData, load_run

COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class Row:
    scenario: str
    strategy: str
    data: RunData
    impact: Impact | None
    decided_s: float | None
    duration_s: float | None
    blast: tuple[int, int, int] | None  # requests, distinct users, SLO-violating requests of the bad versions

    @property
    def link(self) -> str:
        return f"{self.data.path.parent.name}/{self.data.path.name}/report.html"


@dataclass(frozen=True)
class ComparisonFiles:
    markdown: Path
    html: Path
    figures: list[Path]


def _rows(folder: Path, spec: dict[str, Any]) -> list[Row]:
    rows = []
    for run in spec["runs"]:
        data = load_run(folder / run["dir"])
        bad = spec["comparison"].get("bad") or []
        effect = impact(data, spec["comparison"].get("slo_ms"), bad)
        # With no version named bad (choosing a model), the blast radius is what the less accurate ones served.
        hurt = bad or ([v for v in effect.versions if v != effect.best] if effect is not None and effect.best else [])
        blast = effect.blast(hurt) if effect is not None else None
        duration = data.end_ts - data.start_ts if data.end_ts and data.start_ts else None
        rows.append(Row(run["scenario"], data.strategy, data, effect, time_to_decision(data), duration, blast))
    return rows


def _n(value: float | int | None, fmt: str = "{:.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def _cells(row: Row) -> list[str]:
    requests, users, over = row.blast if row.blast else (None, None, None)
    return [row.scenario, row.strategy, row.data.outcome, _n(row.decided_s, "{:.0f} s"), _n(requests), _n(users),
            _n(over), _n(row.impact.over_slo if row.impact else None),
            _n(row.impact.regret if row.impact else None, "{:.1f}"), _n(row.duration_s, "{:.0f} s")]


def _bad_label(spec: dict[str, Any]) -> str:
    return ", ".join(spec["comparison"].get("bad") or []) or "a less accurate version"


def headers(spec: dict[str, Any]) -> list[str]:
    bad = _bad_label(spec)
    slo = spec["comparison"].get("slo_ms")
    return ["scenario", "strategy", "decision", "time to decision", f"requests served by {bad}",
            f"distinct users served by {bad}", f"of them over the SLO ({slo:g} ms)",
            "all user requests over the SLO", "regret (expected wrong answers)", "duration"]


def _figures(rows: list[Row], spec: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """(name, svg, png) of the bar chart and of each run's traffic, drawn on one time scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rolloutlab.report.figures import draw_weights

    out = []
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, 5, figsize=SIZE_IN)
        names = [r.scenario for r in rows]
        bad = _bad_label(spec)
        metrics = [("requests served by " + bad, [r.blast[0] if r.blast else 0 for r in rows]),
                   ("distinct users served by " + bad, [r.blast[1] if r.blast else 0 for r in rows]),
                   (f"user requests over the SLO ({spec['comparison'].get('slo_ms'):g} ms)",
                    [r.impact.over_slo if r.impact else 0 for r in rows]),
                   ("time to decision (s)", [r.decided_s or 0 for r in rows]),
                   ("regret (expected wrong answers)", [r.impact.regret or 0 if r.impact else 0 for r in rows])]
        for axis, (title, values) in zip(axes, metrics):
            bars = axis.bar(range(len(rows)), values, color=[COLOURS[i % len(COLOURS)] for i in range(len(rows))])
            axis.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=11)
            axis.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=10)
            axis.set_title(textwrap.fill(title, 22), fontsize=12)
            axis.grid(axis="x", visible=False)
        fig.suptitle(f"{spec['comparison']['name']}: the same versions, the same seeded load", x=0.01, ha="left",
                     fontweight="bold")
        fig.tight_layout()
        out.append(("comparison", *_save(fig)))
        plt.close(fig)

        fig, axes = plt.subplots(len(rows), 1, figsize=SIZE_IN, sharex=True, squeeze=False)
        span = max([r.duration_s or 0 for r in rows] + [1.0])
        for axis, row in zip(axes[:, 0], rows):
            if row.data.events("routing_applied"):
                draw_weights(row.data, axis)
            axis.set_xlim(0, span)
            axis.set_ylabel("traffic %", fontsize=10)
            axis.text(0.01, 0.5, f"{row.scenario}\n{row.data.outcome}", transform=axis.transAxes, fontsize=12,
                      fontweight="bold", va="center", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
        handles, labels = axes[0, 0].get_legend_handles_labels()
        for axis in axes[1:, 0]:  # every version and mirror once, whichever run showed it
            for handle, label in zip(*axis.get_legend_handles_labels()):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        fig.legend(handles, labels, loc="upper right", ncol=len(labels), frameon=False)
        fig.suptitle(f"{spec['comparison']['name']}: traffic under each strategy", x=0.01, ha="left", fontweight="bold")
        axes[-1, 0].set_xlabel("seconds since each run started")
        fig.tight_layout()
        out.append(("traffic", *_save(fig)))
        plt.close(fig)
    return out


def _save(fig: Any) -> tuple[str, bytes]:
    svg, png = io.StringIO(), io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return svg.getvalue(), png.getvalue()


def _markdown(rows: list[Row], spec: dict[str, Any]) -> str:
    c = spec["comparison"]
    scenario = (spec.get("scenarios") or [{}])[0]
    load = scenario.get("load", {})
    head = headers(spec)
    lines = [f"# {c['name']}", "", c.get("description", ""), "",
             f"Versions {', '.join(rows[0].data.versions) if rows else '?'}; the same seeded load for every run "
             f"({load.get('users', '?')} users × {load.get('rate_per_user', '?')} req/s, seed {load.get('seed', '?')}); "
             f"runs one after another on one lab.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    lines += ["", "Blast radius: requests the bad versions answered to users (mirrored copies, which users never see, "
              "excluded) and the distinct users they reached, from the servers' prediction logs; SLO: handler latency "
              "above the comparison's SLO. Regret: expected wrong answers beyond always serving the most accurate "
              "version not named bad (held-out accuracy).", ""]
    for r in rows:
        lines.append(f"- **{r.scenario}** ({r.data.outcome}): {r.data.reason} — [{r.link}]({r.link})")
        lines += [f"  - problem: {p}" for p in r.data.problems]
    lines += ["", "Figures: figures/comparison.png, figures/traffic.png (16:9).", ""]
    return "\n".join(lines)


def _html(rows: list[Row], spec: dict[str, Any], figures: list[tuple[str, str, bytes]], markdown: str) -> str:
    c = spec["comparison"]
    body = [[escape(r.scenario), escape(r.strategy), badge(r.data.outcome), *(escape(x) for x in _cells(r)[3:]),
             f'<a href="{escape(r.link)}">report</a>'] for r in rows]
    reasons = "".join(f"<li><b>{escape(r.scenario)}</b>: {escape(r.data.reason)}"
                      + "".join(f"<br><i>problem: {escape(p)}</i>" for p in r.data.problems) + "</li>" for r in rows)
    panels = "".join(f'<figure id="fig-{name}">{svg[svg.index("<svg"):]}<figcaption>figures/{name}.png</figcaption></figure>'
                     for name, svg, _ in figures)
    note = escape(markdown.split("Blast radius:", 1)[1].split("\n", 1)[0]) if "Blast radius:" in markdown else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(c['name'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><h1>{escape(c['name'])}</h1><p>{escape(c.get('description', ''))}</p>
{table([*headers(spec), 'run'], body, raw=True)}
<p><small>Blast radius:{note}</small></p><ul>{reasons}</ul>
{panels}
<h2>Comparison settings</h2><pre>{escape(json.dumps(spec['comparison'], sort_keys=True, indent=2))}</pre>
</body></html>
"""


def build_comparison(folder: Path) -> ComparisonFiles:
    """(Re)write comparison.md, comparison.html and figures/*.png from the folder alone."""
    path = folder / COMPARISON_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RolloutLabError(f"{path}: unreadable comparison record ({exc})") from exc
    rows = _rows(folder, spec)
    figures = _figures(rows, spec) if rows else []
    (folder / "figures").mkdir(exist_ok=True)
    pngs = []
    for name, _svg, png in figures:
        pngs.append(folder / "figures" / f"{name}.png")
        pngs[-1].write_bytes(png)
    markdown = _markdown(rows, spec)
    (folder / "comparison.md").write_text(markdown, encoding="utf-8")
    (folder / "comparison.html").write_text(_html(rows, spec, figures, markdown), encoding="utf-8")
    return ComparisonFiles(folder / "comparison.md", folder / "comparison.html", pngs)
