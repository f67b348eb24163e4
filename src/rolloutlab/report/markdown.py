"""A Markdown summary of one run, rendered from its journal alone (so it can be rebuilt any time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rolloutlab.load.locust_runner import LoadStats


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def render_summary(records: list[dict[str, Any]], load: LoadStats | None = None) -> str:
    started = next((r for r in records if r["event"] == "run_started"), None)
    finished = next((r for r in records if r["event"] == "run_finished"), None)
    scenario = started["scenario"] if started else {}
    versions = scenario.get("versions", {})
    baseline, candidate = versions.get("baseline", "?"), versions.get("candidate", "?")
    outcome = finished["outcome"] if finished else "unfinished (the run was cut off)"
    when = dt.datetime.fromtimestamp(started["ts"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if started else "?"
    duration = f"{finished['ts'] - started['ts']:.0f}s" if started and finished else "?"

    lines = [
        f"# {scenario.get('name', 'run')}: {outcome.upper()}",
        "",
        f"{scenario.get('description', '')}".strip(),
        "",
        f"- **Strategy:** {scenario.get('strategy', '?')} of `{candidate}` (candidate) over `{baseline}` (baseline), "
        f"steps {' → '.join(f'{s}%' for s in scenario.get('steps', []))}",
        f"- **Started:** {when}; **duration:** {duration}",
        f"- **Outcome:** {outcome}" + (f" — {finished['reason']}" if finished and finished.get("reason") else ""),
    ]
    if finished and finished.get("final_weights"):
        weights = ", ".join(f"`{v}` {w}%" for v, w in sorted(finished["final_weights"].items()))
        lines.append(f"- **Traffic at the end:** {weights}")
    reference = next((r for r in records if r["event"] == "baseline_reference" and "baseline" in r), None)
    if reference:
        b = reference["baseline"]
        lines.append(
            f"- **Baseline alone before the rollout:** `{baseline}` {b['requests']:.0f} requests, "
            f"errors {_pct(b['error_rate'])}, p95 {_ms(b['p95_ms'])} (the reference at 100 %)"
        )
    lines += [
        "",
        "## Analyses",
        "",
        f"| # | {candidate} share | verdict | {candidate} req | {candidate} errors | {candidate} p95 | "
        f"{baseline} req | {baseline} errors | {baseline} p95 | decision |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    decisions = [r for r in records if r["event"] == "decision"]
    analyses = [r for r in records if r["event"] == "analysis"]
    for index, analysis in enumerate(analyses):
        c, b = analysis["candidate"], analysis["baseline"]
        decision = decisions[index] if index < len(decisions) else None
        lines.append(
            f"| {index + 1} | {analysis['candidate_percent']}% | {analysis['verdict']} | {c['requests']:.0f} | "
            f"{_pct(c['error_rate'])} | {_ms(c['p95_ms'])} | {b['requests']:.0f} | {_pct(b['error_rate'])} | "
            f"{_ms(b['p95_ms'])} | {decision['action'] + ': ' + decision['reason'] if decision else '–'} |"
        )
    if not analyses:
        lines.append("| – | – | no analysis ran | | | | | | | |")
    if load is not None:
        lines += [
            "",
            "## Load (client side, Locust)",
            "",
            f"{load.requests} requests, {load.failures} failed, {load.rps:.1f} req/s on average, "
            f"p50 {load.p50_ms:.0f} ms, p95 {load.p95_ms:.0f} ms (through the router).",
        ]
    routing = [r for r in records if r["event"] == "routing_applied"]
    lines += ["", "## Routing changes", ""]
    for r in routing:
        weights = ", ".join(f"{v} {w}" for v, w in sorted(r["weights"].items()))
        lines.append(f"- generation {r['generation']}: {weights} — {r['reason']}")
    return "\n".join(lines) + "\n"
