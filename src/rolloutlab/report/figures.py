"""A run's figures (matplotlib, Agg): traffic weights with every decision, rates, latency, errors, rewards, P(best).

Each figure is 16:9 (a slide) and drawn from the run directory alone. Rendering is deterministic — fixed
rcParams, no dates in the metadata, a fixed SVG hash salt — so a report rebuilt from the same run
directory is byte for byte the same.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rolloutlab.report.impact import Impact
from rolloutlab.report.rundir import RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_IN = (12.8, 7.2)  # 16:9; saved at 150 dpi: 1920 × 1080 pixels
PNG_DPI = 150
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
RC = {
    "svg.hashsalt": "rolloutlab", "svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 13,
    "axes.titlesize": 15, "axes.labelsize": 13, "legend.fontsize": 11, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "path.simplify": False,
}
OUTCOME_COLOURS = {"promoted": "#2ca02c", "winner": "#2ca02c", "passed": "#2ca02c", "no winner": "#555555",
                   "rolled back": "#d62728", "rejected": "#d62728"}
VERDICT_COLOURS = {"Successful": "#2ca02c", "Failed": "#d62728", "Inconclusive": "#ff7f0e", "Error": "#7f7f7f"}


@dataclass(frozen=True)
class Figure16x9:
    name: str  # file stem: weights, rps, latency, errors, rewards, p_best
    title: str
    caption: str
    svg: str
    png: bytes


def colours(data: RunData) -> dict[str, str]:
    return {v: COLOURS[i % len(COLOURS)] for i, v in enumerate(data.versions)}


def _t(data: RunData, ts: float) -> float:
    return ts - (data.start_ts or ts)


def _series(data: RunData, name: str) -> dict[str, list[list[float | None]]]:
    return ((data.series or {}).get("series") or {}).get(name) or {}


def _xy(data: RunData, points: list[list[float | None]]) -> tuple[list[float], list[float]]:
    """Seconds since the run started and values (gaps as NaN, so lines break where Prometheus had nothing)."""
    xs = [_t(data, float(t)) for t, _ in points if t is not None]
    ys = [float("nan") if v is None else float(v) for t, v in points if t is not None]
    return xs, ys


def _decisions(data: RunData, axis: Axes, label: bool) -> None:
    """A vertical line at every decision (and gate, smoke test and switch), explained in the figure itself.

    label=True writes what each line decided beside it; otherwise (panels too busy for text) each kind of
    line gets one legend entry, so a dashed line is never left for the caption to explain."""
    in_legend: set[str] = set()
    for r in data.events("decision", "gate", "smoke", "switch"):
        x = _t(data, float(r["ts"]))
        if r["event"] == "decision":
            verdict = r.get("verdict")
            outcome = r.get("outcome")
            colour = OUTCOME_COLOURS.get(outcome, "#555555") if outcome else VERDICT_COLOURS.get(verdict or "", "#555555")
            # A decision without a verdict moves to the next phase without judging (smoke tests, a switch).
            text = outcome or verdict or f"next: {r.get('phase') or 'step'}"
            kind = f"decision: {outcome or verdict}" if outcome or verdict else "next step (not judged)"
        elif r["event"] == "switch":
            colour, text = "#9467bd", f"switch to {r.get('version')}"
            kind = text
        else:
            passed = r.get("passed")
            colour = "#2ca02c" if passed else "#d62728"
            text = f"{r['event']} {r.get('name', r.get('version', ''))}: {'pass' if passed else 'FAIL'}"
            kind = f"{r['event']} {'passed' if passed else 'FAILED'}"
        legend = None if label or kind in in_legend else kind
        in_legend.add(kind)
        axis.axvline(x, color=colour, linestyle="--", linewidth=1.2, alpha=0.8, label=legend)
        if label and text:
            axis.text(x, 1.0, f" {text}", transform=axis.get_xaxis_transform(), rotation=90, va="top", ha="right",
                      fontsize=9, color=colour)


def _finish(fig: Figure, axes: list[Axes]) -> None:
    for axis in axes:
        handles, _ = axis.get_legend_handles_labels()
        if handles:  # above the plot, so the legend never hides data nor squeezes the axes
            axis.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=min(len(handles), 6), frameon=False,
                        borderaxespad=0)
    axes[-1].set_xlabel("seconds since the run started")
    if hasattr(fig, "tight_layout"):  # a sub-figure (a comparison's small multiples) is laid out by its parent
        fig.tight_layout()


def _weights(data: RunData, fig: Figure, _impact: Impact | None) -> str | None:
    if not data.events("routing_applied"):
        return None
    axis = fig.subplots()
    draw_weights(data, axis)
    axis.set_ylabel("share of user traffic (%)")
    _finish(fig, [axis])
    return "Traffic weights as the router applied them; dashed lines mark every decision (green passed, red failed, orange inconclusive), gate, smoke test and switch."


def draw_weights(data: RunData, axis: Axes) -> None:
    """The run's traffic shares, stacked, with mirrored copies dotted and every decision marked."""
    routing = data.events("routing_applied")
    end = _t(data, data.end_ts or routing[-1]["ts"])
    palette = colours(data)
    xs = [_t(data, float(r["ts"])) for r in routing] + [end]
    below = [0.0] * len(xs)
    # Stacked: the shares always add up to 100 %, and equal shares (an even split) stay visible.
    for version in data.versions:
        shares = []
        for r in routing:
            weights = r.get("weights", {})
            shares.append(100 * weights.get(version, 0) / (sum(weights.values()) or 1))
        top = [b + v for b, v in zip(below, shares + shares[-1:])]
        axis.fill_between(xs, below, top, step="post", color=palette[version], alpha=0.75, linewidth=0, label=version)
        below = top
    labelled: set[str] = set()
    for (r, x), nxt in zip(zip(routing, xs), xs[1:]):
        mirror = (r.get("routing") or {}).get("mirror") or {}
        if mirror.get("version") in palette:
            name = f"copies mirrored to {mirror['version']} (answers dropped)"
            axis.hlines(mirror.get("percent", 0), x, nxt, colors="black", linestyles=":", linewidth=2.5,
                        label=None if name in labelled else name)
            labelled.add(name)
    axis.set_ylim(-3, 108)
    axis.set_xlim(0, max(end, 1))
    _decisions(data, axis, label=True)


def _per_version(data: RunData, fig: Figure, names: list[tuple[str, str]], ylabel: str) -> bool:
    axis = fig.subplots()
    palette = colours(data)
    styles = ["-", "--", ":"]
    drawn = False
    for index, (name, label) in enumerate(names):
        for version, points in sorted(_series(data, name).items()):
            xs, ys = _xy(data, points)
            if any(y == y for y in ys):  # not all NaN
                axis.plot(xs, ys, styles[index % 3], color=palette.get(version, "#333333"), linewidth=1.8,
                          label=f"{version} {label}".strip())
                drawn = True
    axis.set_ylabel(ylabel)
    axis.set_xlim(0, max(1.0, _t(data, data.end_ts or 0)))
    _decisions(data, axis, label=False)
    _finish(fig, [axis])
    return drawn


def _rps(data: RunData, fig: Figure, _impact: Impact | None) -> str | None:
    if not _per_version(data, fig, [("rps", "")], "requests/s (served, incl. mirrored copies)"):
        return None
    return "Requests per second each version answered (Prometheus, 5 s rate): a shadow's mirrored copies count here too."


def _latency(data: RunData, fig: Figure, _impact: Impact | None) -> str | None:
    if not _per_version(data, fig, [("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")], "latency (ms)"):
        return None
    fig.axes[0].set_yscale("log")
    return "Latency per version from the servers' histograms (5 s windows): p50 solid, p95 dashed, p99 dotted (log scale)."


def _errors(data: RunData, fig: Figure, _impact: Impact | None) -> str | None:
    served = _series(data, "rps")
    if not served:
        return None
    failed = _series(data, "errors_per_s")
    axis = fig.subplots()
    palette = colours(data)
    for version, points in sorted(served.items()):
        xs, rps = _xy(data, points)
        # A version that never failed has no 5xx series at all: that is 0 %, drawn as such.
        errors = {t: v for t, v in failed.get(version, [])}
        ys = [100 * (errors.get(t) or 0.0) / r if r == r and r > 0 else float("nan")
              for (t, _), r in zip(points, rps)]
        axis.plot(xs, ys, color=palette.get(version, "#333333"), linewidth=1.8, label=version)
    axis.set_ylabel("error rate (% answered 5xx)")
    axis.set_ylim(bottom=-0.05 * max(1.0, axis.get_ylim()[1]))  # a line at 0 % stays visible above the axis
    axis.set_xlim(0, max(1.0, _t(data, data.end_ts or 0)))
    _decisions(data, axis, label=False)
    _finish(fig, [axis])
    return "Share of each version's /predict requests answered 5xx (5 s windows)."


def _rewards(data: RunData, fig: Figure, impact: Impact | None) -> str | None:
    feedback = {v: _xy(data, p)[1] for v, p in _series(data, "feedback_per_s").items()}
    has_rates = bool(_series(data, "reward_per_s"))
    has_regret = impact is not None and impact.regret is not None and len(impact.regret_curve) > 1
    rounds = [r["notes"] for r in data.events("decision") if (r.get("notes") or {}).get("regret") is not None]
    if data.strategy not in ("ab-test", "bandit") or not (has_rates or has_regret or rounds):
        return None
    top, bottom = fig.subplots(2, 1, sharex=True) if has_rates else (None, fig.subplots())
    palette = colours(data)
    for version, points in sorted(_series(data, "reward_per_s").items()) if top is not None else []:
        xs, ys = _xy(data, points)
        labels = feedback.get(version, [])
        rate = [100 * y / n if n and n == n and y == y else float("nan") for y, n in zip(ys, labels)]
        top.plot(xs, rate, color=palette.get(version, "#333"), linewidth=1.8, label=version)
    if has_regret:
        assert impact is not None
        xs, ys = zip(*impact.regret_curve)
        bottom.plot(xs, ys, color="#d62728", linewidth=2.2, label=f"regret vs always {impact.best} (served answers)")
    if rounds:
        times = [_t(data, float(r["ts"])) for r in data.events("decision") if (r.get("notes") or {}).get("regret") is not None]
        bottom.plot(times, [n["regret"] for n in rounds], "o-", color="#9467bd", linewidth=3, markersize=10,
                    label="bandit's own tally")
        bottom.plot(times, [n.get("equal_split_regret") for n in rounds], "s--", color="#8c564b", linewidth=3,
                    markersize=10, label="an equal split, same requests")
    bottom.set_ylabel("cumulative regret\n(expected wrong answers)")
    axes = [bottom] if top is None else [top, bottom]
    axes[0].set_xlim(0, max(1.0, _t(data, data.end_ts or 0)))
    if top is not None:
        top.set_ylabel("reward rate (%)")
    for axis in axes:
        _decisions(data, axis, label=False)
    _finish(fig, axes)
    return ("Reward rate per version (delayed /feedback labels, 5 s windows) and cumulative regret: expected wrong "
            "answers beyond always serving the most accurate version (held-out accuracy).")


def _p_best(data: RunData, fig: Figure, _impact: Impact | None) -> str | None:
    rounds = [(r["ts"], r["notes"]) for r in data.events("decision") if (r.get("notes") or {}).get("p_best")]
    if not rounds:
        return None
    axis = fig.subplots()
    palette = colours(data)
    for version in data.versions:
        xs = [_t(data, float(ts)) for ts, _ in rounds]
        axis.plot(xs, [n["p_best"].get(version, float("nan")) for _, n in rounds], "o-", color=palette[version],
                  linewidth=2, label=version)
    stop = data.scenario.get("bandit", {}).get("stop_probability")
    if stop:
        axis.axhline(stop, color="#555555", linestyle=":", label=f"stop at P(best) ≥ {stop:g}")
    axis.set_ylim(-0.03, 1.05)
    axis.set_ylabel("P(best arm)")
    axis.set_xlim(0, max(1.0, _t(data, data.end_ts or 0)))
    _finish(fig, [axis])
    return "Each arm's posterior probability of being the best, per bandit round."


PANELS: list[tuple[str, str, Callable[[RunData, Any, Impact | None], str | None]]] = [
    ("weights", "Traffic weights and decisions", _weights),
    ("rps", "Requests per second per version", _rps),
    ("latency", "Latency p50 / p95 / p99 per version", _latency),
    ("errors", "Error rate per version", _errors),
    ("rewards", "Reward rate and cumulative regret", _rewards),
    ("p_best", "P(best) per arm", _p_best),
]


def render_figures(data: RunData, impact: Impact | None) -> list[Figure16x9]:
    """Every panel the run directory has data for, as SVG text and PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    with plt.rc_context(RC):
        for name, title, draw in PANELS:
            fig = plt.figure(figsize=SIZE_IN)
            try:
                caption = draw(data, fig, impact)
                if caption is None:
                    continue
                fig.suptitle(f"{data.scenario.get('name', data.path.name)}: {title}", x=0.01, ha="left",
                             fontsize=15, fontweight="bold")
                fig.tight_layout()
                svg, png = io.StringIO(), io.BytesIO()
                fig.savefig(svg, format="svg", metadata={"Date": None})
                fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
                figures.append(Figure16x9(name, title, caption, svg.getvalue(), png.getvalue()))
            finally:
                plt.close(fig)
    return figures


def write_pngs(figures: list[Figure16x9], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for figure in figures:
        path = folder / f"{figure.name}.png"
        path.write_bytes(figure.png)
        paths.append(path)
    return paths
