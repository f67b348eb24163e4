"""A run's self-contained HTML report: inline CSS and inline SVG figures, nothing fetched, nothing dated.

Everything comes from the run directory (rundir.RunData): the same directory always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

from rolloutlab.report.figures import Figure16x9
from rolloutlab.report.impact import Impact
from rolloutlab.report.markdown import _ms, _pct, _value
from rolloutlab.report.rundir import RunData

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:24px;color:#222}
h1{margin:0 0 4px}h2{margin-top:36px;border-bottom:2px solid #eee;padding-bottom:4px}
.badge{display:inline-block;padding:3px 12px;border-radius:12px;color:#fff;font-weight:600;font-size:16px}
.good{background:#2ca02c}.bad{background:#d62728}.neutral{background:#7f7f7f}.warn{background:#ff7f0e}
table{border-collapse:collapse;margin:8px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}code{font-size:12px;word-break:break-all}figure{margin:16px 0}figure svg{width:100%;height:auto}
figcaption{color:#555;font-size:14px}.problems{background:#fff4e5;border:1px solid #ff7f0e;padding:8px 16px;border-radius:6px}
.facts td:first-child{font-weight:600;white-space:nowrap}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.Successful,.pass{color:#2ca02c;font-weight:600}.Failed,.FAIL{color:#d62728;font-weight:600}.Inconclusive{color:#ff7f0e;font-weight:600}
"""
GOOD = ("promoted", "winner", "passed", "no winner")
BAD = ("rolled back", "rejected")


def _e(value: Any) -> str:
    return escape(str(value))


def table(headers: list[str], rows: list[list[str]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless raw (then the caller escaped them)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def badge(outcome: str) -> str:
    kind = "good" if outcome in GOOD else "bad" if outcome in BAD else "warn"
    return f'<span class="badge {kind}">{_e(outcome.upper())}</span>'


def time_to_decision(data: RunData) -> float | None:
    """Seconds from the start of the run to its final decision (or its end, for a run stopped by a gate or abort)."""
    final = next((r for r in data.events("decision") if r.get("final")), None)
    end = float(final["ts"]) if final else data.end_ts
    return None if end is None or data.start_ts is None else end - data.start_ts


def _facts(data: RunData) -> str:
    s = data.scenario
    load = s.get("load", {})
    started = dt.datetime.fromtimestamp(data.start_ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") \
        if data.start_ts else "?"
    duration = f"{data.end_ts - data.start_ts:.0f} s" if data.start_ts and data.end_ts else "?"
    decided = time_to_decision(data)
    rows = [
        ["Strategy", data.strategy], ["Versions", ", ".join(data.versions) + " (baseline first)"],
        ["Started", started], ["Duration", duration],
        ["Time to decision", "–" if decided is None else f"{decided:.0f} s"],
        ["Load", f"{load.get('shape', '?')}: {load.get('users', '?')} users × {load.get('rate_per_user', '?')} req/s, "
                 f"seed {load.get('seed', '?')}, population {load.get('population', '?')}, feedback after "
                 f"{load.get('feedback_delay', '?')} s"],
        ["Analysis", f"every {s.get('analysis', {}).get('interval', '?')} s; checks: "
                     + ", ".join(c.get("name") or c.get("metric", "?") for c in s.get("analysis", {}).get("checks", []))],
        ["Run directory", data.path.name],
    ]
    return table(["", ""], rows).replace("<table>", '<table class="facts">', 1)


def _impact(impact: Impact | None) -> str:
    if impact is None:
        return "<p>No prediction logs were saved with this run: who each version served is unknown.</p>"
    rows = [[v, f"{i.requests}", f"{i.users}", f"{i.mirrored}", f"{i.probes}", _ms(i.p95_ms)]
            for v, i in impact.versions.items()]
    regret = "" if impact.regret is None else (
        f"<p>Cumulative regret: <b>{impact.regret:.1f}</b> expected wrong answers beyond always serving "
        f"<code>{_e(impact.best)}</code> (held-out accuracy).</p>")
    return table(["version", "user requests answered", "distinct users", "mirrored copies (unseen)",
                  "lab probes", "handler p95 (users)"], rows) + regret


def _checks(data: RunData) -> str:
    rows = []
    decisions = data.events("decision")
    for index, a in enumerate(data.events("analysis")):
        decision = decisions[index]["reason"] if index < len(decisions) else "–"
        checks = a.get("checks") or []
        if not checks:
            rows.append([_e(index + 1), _e(a.get("label", "")), "–", "–", "–", "–", "–",
                         f'<span class="{_e(a.get("verdict"))}">{_e(a.get("verdict"))}</span>: '
                         + _e("; ".join(a.get("reasons", []))), _e(decision)])
        for c in checks:
            rows.append([_e(index + 1), _e(f"{a.get('label', '')} ({a.get('candidate_percent', '–')}%)"),
                         _e(c.get("name")), _e(c.get("version")), f"<code>{_e(c.get('query', '–'))}</code>",
                         _e(_value(c.get("metric", ""), c.get("value"))), _e(c.get("bound")),
                         f'<span class="{_e(c.get("verdict"))}">{_e(c.get("verdict"))}</span>', _e(decision)])
    if not rows:
        return "<p>No analysis ran in this run.</p>"
    return table(["#", "step", "check", "version", "query (PromQL)", "value", "threshold", "verdict",
                  "decision"], rows, raw=True)


def _gates(data: RunData) -> str:
    rows = []
    for r in data.events("gate", "smoke", "switch", "retired"):
        if r["event"] == "gate":
            mark = "skipped" if r.get("skipped") else ("pass" if r.get("passed") else "FAIL")
            rows.append([f"gate {r.get('name')}", r.get("version", ""), mark, r.get("summary", "")])
        elif r["event"] == "smoke":
            rows.append(["smoke tests (preview route)", r.get("version", ""),
                         "pass" if r.get("passed") else "FAIL", r.get("summary", "")])
        elif r["event"] == "switch":
            seen = "not seen" if r.get("switch_s") is None else f"{r['switch_s']:.2f} s"
            rows.append(["switch", r.get("version", ""), "", f"applied in {r.get('apply_s', 0):.2f} s; every new "
                         f"request served by it after {seen}; failed requests: {r.get('failed_requests')}"])
        else:
            rows.append(["retired", r.get("version", ""), "", r.get("message", "")])
    if not rows:
        return "<p>No pre-deploy gate, smoke test or switch in this run.</p>"
    return table(["what", "version", "result", "details"], rows)


def _experiment(data: RunData) -> str:
    notes_all = [r.get("notes") or {} for r in data.events("decision")]
    final = notes_all[-1] if notes_all else {}
    parts = []
    if final.get("results"):
        arms = [[a, f"{x.get('users', 0):.0f}", f"{x.get('labelled', 0):.0f}", _pct(x.get("rate"))]
                for a, x in final.get("arms", {}).items()]
        srm = final.get("srm", {})
        results = [[a, f"{100 * c['difference']:+.2f} pts", f"[{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]",
                    f"{c['p_value']:.3g}", c.get("method", "")] for a, c in final["results"].items()]
        parts.append("<h3>A/B result</h3>" + table(["arm", "users", "labelled", "reward rate"], arms)
                     + f"<p>Sample size needed: {_e(final.get('needed_per_arm'))} labelled requests per arm; "
                     f"sample-ratio check p = {srm.get('p_value', float('nan')):.3g}.</p>"
                     + table(["arm − control", "difference", "95% CI", "p", "method"], results))
    rounds = [n for n in notes_all if n.get("p_best")]
    if rounds:
        arms = sorted(rounds[-1]["weights"])
        rows = [[str(n.get("round")), *(f"{n['weights'].get(a)}% / {n['p_best'].get(a, 0):.2f} / "
                                        f"{_pct(n.get('rates', {}).get(a))}" for a in arms),
                 f"{n.get('regret', 0):.1f}", f"{n.get('equal_split_regret', 0):.1f}"] for n in rounds]
        parts.append("<h3>Bandit rounds</h3>" + table(["round", *(f"{a}: weight / P(best) / rate" for a in arms),
                                                        "regret", "equal-split regret"], rows))
    agreements = data.events("agreement")
    if agreements:
        a = agreements[-1]
        parts.append("<h3>Shadow comparison (prediction logs joined on request id)</h3>" + table(
            ["matched", "agreement", "labelled", f"accuracy {a.get('shadow')}", f"accuracy {a.get('baseline')}",
             f"p95 {a.get('shadow')}", f"p95 {a.get('baseline')}"],
            [[str(a.get("matched", 0)), _pct(a.get("agreement")), str(a.get("labelled", 0)),
              _pct(a.get("candidate_accuracy")), _pct(a.get("baseline_accuracy")), _ms(a.get("candidate_p95_ms")),
              _ms(a.get("baseline_p95_ms"))]]))
    return "".join(parts)


def _identities(data: RunData) -> str:
    rows = []
    for version in data.versions:
        entry = data.identities.get(version, {})
        evaluation = entry.get("evaluation") or {}
        faults = json.dumps(entry.get("faults"), sort_keys=True) if entry.get("faults") else "none"
        rows.append([version, entry.get("tag", "unknown (not saved with this run)"), entry.get("description", ""),
                     faults, _pct(evaluation.get("accuracy")) if evaluation else _pct(data.accuracy(version))])
    return table(["version", "tag", "description", "faults", "held-out accuracy"], rows)


def _timeline(data: RunData) -> str:
    rows = []
    for r in data.events("routing_applied", "decision"):
        t = f"{r['ts'] - (data.start_ts or r['ts']):.1f} s"
        weights = ", ".join(f"{v} {w}" for v, w in sorted((r.get("weights") or {}).items()))
        mirror = (r.get("routing") or {}).get("mirror")
        if mirror:
            weights += f"; mirror {mirror.get('percent')}% to {mirror.get('version')}"
        what = "routing applied" if r["event"] == "routing_applied" else f"decision: {r.get('label', '')}"
        rows.append([t, what, weights, r.get("reason", "")])
    return table(["t", "event", "weights", "reason"], rows)


def render_html(data: RunData, figures: list[Figure16x9], impact: Impact | None) -> str:
    s = data.scenario
    name = s.get("name", data.path.name)
    problems = "" if not data.problems else (
        '<div class="problems"><b>This report is incomplete or the run was cut short:</b><ul>'
        + "".join(f"<li>{_e(p)}</li>" for p in data.problems) + "</ul></div>")
    panels = "".join(
        f'<figure id="fig-{f.name}"><h2>{_e(f.title)}</h2>{f.svg[f.svg.index("<svg"):]}'
        f"<figcaption>{_e(f.caption)} (slide: <code>figures/{_e(f.name)}.png</code>)</figcaption></figure>"
        for f in figures)
    load = "" if data.load is None else (
        f"<h2>Load (client side, Locust)</h2><p>{data.load.requests} requests, {data.load.failures} failed, "
        f"{data.load.rps:.1f} req/s on average, p50 {data.load.p50_ms:.0f} ms, p95 {data.load.p95_ms:.0f} ms "
        "(through the router).</p>")
    settings = json.dumps(s, sort_keys=True, indent=2)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(name)}: {_e(data.outcome)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{_e(name)} {badge(data.outcome)}</h1>
<p><b>{_e(data.reason)}</b></p>
<p>{_e(s.get('description', ''))}</p>
{problems}
{_facts(data)}
{panels}
<h2>Who was served</h2>{_impact(impact)}
<h2>Gates, smoke tests and switches</h2>{_gates(data)}
<h2>Analyses: every check of every step</h2>{_checks(data)}
{_experiment(data)}
<h2>Versions</h2>{_identities(data)}
{load}
<h2>Routing changes and decisions</h2>{_timeline(data)}
<h2>Seed and settings</h2><pre>{_e(settings)}</pre>
</body></html>
"""
