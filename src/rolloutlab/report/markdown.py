"""A Markdown summary of one run, rendered from its journal alone (so it can be rebuilt any time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rolloutlab.load.locust_runner import LoadStats


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.0f}"


def _value(metric: str, value: Any) -> str:
    if value is None:
        return "–"
    if metric in ("error_rate", "accuracy"):
        return _pct(value)
    if metric == "memory_per_request":
        return f"{value / 1024:.1f} KiB"
    if metric.endswith("_ms"):
        return _ms(value)
    return f"{value:.1f}"


def _header(records: list[dict[str, Any]]) -> list[str]:
    started = next((r for r in records if r["event"] == "run_started"), None)
    finished = next((r for r in records if r["event"] == "run_finished"), None)
    scenario = started["scenario"] if started else {}
    versions = scenario.get("versions", {})
    outcome = finished["outcome"] if finished else "unfinished (the run was cut off)"
    when = dt.datetime.fromtimestamp(started["ts"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if started else "?"
    duration = f"{finished['ts'] - started['ts']:.0f}s" if started and finished else "?"
    strategy = scenario.get("strategy", "?")
    shape = f", steps {' → '.join(f'{s}%' for s in scenario['steps'])}" if scenario.get("steps") else ""
    lines = [
        f"# {scenario.get('name', 'run')}: {outcome.upper()}",
        "",
        f"{scenario.get('description', '')}".strip(),
        "",
        f"- **Strategy:** {strategy} of `{versions.get('candidate', '?')}` (candidate) over "
        f"`{versions.get('baseline', '?')}` (baseline){shape}",
        f"- **Started:** {when}; **duration:** {duration}",
        f"- **Outcome:** {outcome}" + (f" — {finished['reason']}" if finished and finished.get("reason") else ""),
    ]
    if finished and finished.get("final_weights"):
        weights = ", ".join(f"`{v}` {w}%" for v, w in sorted(finished["final_weights"].items()))
        lines.append(f"- **Traffic at the end:** {weights}")
    checks = scenario.get("analysis", {}).get("checks", [])
    if checks:
        judged = ", ".join(sorted({c["metric"] for c in checks}))
        quality = "" if any(c["metric"] == "accuracy" for c in checks) else \
            " — **model quality was not judged** (no accuracy check): a fast, error-free release can still be wrong"
        lines.append(f"- **Judged on:** {judged}{quality}")
    return lines


def _references(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in records:
        if r["event"] in ("reference_recorded", "baseline_reference") and r.get("baseline"):
            b = r["baseline"]
            lines.append(
                f"- **Reference window `{r.get('name', 'baseline-alone')}`:** `{b['version']}` {b['requests']:.0f} "
                f"requests, errors {_pct(b['error_rate'])}, p95 {_ms(b['p95_ms'])}, accuracy {_pct(b.get('accuracy'))} "
                f"({_num(b.get('feedback'))} labels)")
    return lines


def _events(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in records:
        if r["event"] == "smoke":
            n = r.get("numbers", {})
            lines.append(f"- **Smoke tests of `{r['version']}` through the router:** "
                         f"{'passed' if r['passed'] else 'FAILED'} — {r['summary']}"
                         + (f" (accuracy {_pct(n.get('accuracy'))}, p95 {_ms(n.get('p95_ms'))})" if n else ""))
        elif r["event"] == "switch":
            switch = "not seen" if r.get("switch_s") is None else f"{r['switch_s']:.2f} s"
            lines.append(f"- **Switch to `{r['version']}`:** router applied in {r.get('apply_s', 0):.2f} s; every new "
                         f"request served by `{r['version']}` after {switch}; failed requests around the switch: "
                         f"{_num(r.get('failed_requests'))}")
        elif r["event"] == "retired":
            lines.append(f"- **Retired `{r['version']}`:** {r['message']}")
    return lines


def _analyses(records: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## Analyses", "",
             "| # | step | share | verdict | requests | errors | p95 | accuracy (labels) | decision |",
             "|---|---|---|---|---|---|---|---|---|"]
    decisions = [r for r in records if r["event"] == "decision"]
    analyses = [r for r in records if r["event"] == "analysis"]
    detail = ["", "### Checks", "", "| # | check | version | value | bound | samples | verdict |",
              "|---|---|---|---|---|---|---|"]
    for index, a in enumerate(analyses):
        c = a.get("candidate") or {}
        decision = decisions[index] if index < len(decisions) else None
        quality = f"{_pct(c.get('accuracy'))} ({_num(c.get('feedback'))})" if c else "–"
        lines.append(
            f"| {index + 1} | {a.get('label', a.get('phase', ''))} | {a.get('candidate_percent', '–')}% | {a['verdict']} | "
            f"{_num(c.get('requests'))} | {_pct(c.get('error_rate'))} | {_ms(c.get('p95_ms'))} | {quality} | "
            f"{decision['reason'] if decision else '–'} |")
        for check in a.get("checks", []):
            detail.append(f"| {index + 1} | {check['name']} | {check['version']} | "
                          f"{_value(check['metric'], check.get('value'))} | {check['bound']} | "
                          f"{_num(check.get('samples'))}/{check['min_samples']} | {check['verdict']} |")
    if not analyses:
        lines.append("| – | – | – | no analysis ran | | | | | |")
    return lines + (detail if len(detail) > 5 else [])


def render_summary(records: list[dict[str, Any]], load: LoadStats | None = None) -> str:
    lines = _header(records) + _references(records) + _events(records) + _analyses(records)
    if load is not None:
        lines += [
            "",
            "## Load (client side, Locust)",
            "",
            f"{load.requests} requests, {load.failures} failed, {load.rps:.1f} req/s on average, "
            f"p50 {load.p50_ms:.0f} ms, p95 {load.p95_ms:.0f} ms (through the router).",
        ]
    lines += ["", "## Routing changes", ""]
    for r in (r for r in records if r["event"] == "routing_applied"):
        weights = ", ".join(f"{v} {w}" for v, w in sorted(r["weights"].items()))
        lines.append(f"- generation {r['generation']}: {weights} — {r['reason']}")
    return "\n".join(lines) + "\n"
