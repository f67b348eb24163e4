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
        lines.append(f"- **Checks each window:** {judged}")
    lines.append(f"- **Model quality:** {QUALITY.get(strategy, '') if strategy in QUALITY else _quality(checks)}")
    return lines


# Where each strategy judges model quality, beside latency and errors: a release can be fast, error-free and wrong.
QUALITY = {
    "ab-test": "the experiment's primary metric: reward rate from delayed /feedback labels, compared per user",
    "bandit": "the bandit's reward: each arm's rate of correct answers from delayed /feedback labels",
    "shadow": "agreement with the baseline and accuracy on the same labelled requests, from the prediction logs",
}


def _quality(checks: list[dict[str, Any]]) -> str:
    if any(c["metric"] == "accuracy" for c in checks):
        return "judged by the accuracy check (online, from delayed /feedback labels) beside latency and errors"
    return ("**not judged** (no accuracy check): this run looked at latency and errors only, and a fast, "
            "error-free release can still be wrong")


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
        elif r["event"] == "gate":
            mark = "skipped" if r.get("skipped") else ("passed" if r["passed"] else "FAILED")
            lines.append(f"- **Gate {r['name']} (`{r['version']}`, before any traffic moved):** {mark} — {r['summary']}")
    return lines


def _experiment(records: list[dict[str, Any]]) -> list[str]:
    """A/B results, bandit rounds, shadow agreement: whatever the strategy measured beyond the checks."""
    decisions = [r for r in records if r["event"] == "decision" and r.get("notes")]
    lines: list[str] = []
    final = decisions[-1]["notes"] if decisions else {}
    if final.get("results"):
        lines += ["", "## A/B result", "", f"Unit: {final.get('unit', '?')}.", "",
                  "| arm | users | labelled | pending | reward rate | design effect |", "|---|---|---|---|---|---|"]
        for arm, a in final.get("arms", {}).items():
            effect = "–" if a.get("design_effect") is None else f"{a['design_effect']:.2f}"
            lines.append(f"| {arm} | {a['users']:.0f} | {a['labelled']:.0f} | {a['pending']:.0f} | "
                         f"{_pct(a.get('rate'))} | {effect} |")
        srm = final.get("srm", {})
        lines += ["", f"Sample size needed: {final.get('needed_per_arm')} labelled requests per arm. Sample-ratio "
                      f"check (users per arm): chi-square p = {srm.get('p_value', float('nan')):.3g}"
                      f"{'' if srm.get('checked') else ' (too few users to check)'}.", ""]
        for arm, c in final["results"].items():
            lines.append(f"- `{arm}` − control: {100 * c['difference']:+.2f} points, 95% CI "
                         f"[{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}], p = {c['p_value']:.3g} ({c['method']})")
    rounds = [d["notes"] for d in decisions if d["notes"].get("p_best")]
    if rounds:
        arms = sorted(rounds[-1]["weights"])
        lines += ["", "## Bandit rounds", "", "| round | " + " | ".join(f"{a} weight / P(best) / rate" for a in arms)
                  + " | regret | equal-split regret |", "|---|" + "---|" * (len(arms) + 2)]
        for n in rounds:
            cells = [f"{n['weights'][a]}% / {n['p_best'][a]:.2f} / {_pct(n['rates'].get(a))}" for a in arms]
            lines.append(f"| {n['round']} | " + " | ".join(cells) + f" | {n['regret']:.1f} | {n['equal_split_regret']:.1f} |")
        oracle = ", ".join(f"`{a}` {_pct(v)}" for a, v in sorted(rounds[-1]["oracle"].items()))
        lines += ["", f"Regret counts expected rewards lost against always serving the best arm; the oracle's "
                      f"true rates are the versions' held-out accuracies: {oracle}."]
    agreements = [r for r in records if r["event"] == "agreement"]
    if agreements:
        a = agreements[-1]
        lines += ["", "## Shadow comparison (prediction logs joined on request id)", "",
                  f"- {a.get('matched', 0)} mirrored requests matched to `{a['baseline']}`'s answers; agreement "
                  f"{_pct(a.get('agreement'))}",
                  f"- on {a.get('labelled', 0)} of them labels arrived: accuracy `{a['shadow']}` "
                  f"{_pct(a.get('candidate_accuracy'))} vs `{a['baseline']}` {_pct(a.get('baseline_accuracy'))}",
                  f"- handler latency p95 (from the logs): `{a['shadow']}` {_ms(a.get('candidate_p95_ms'))} vs "
                  f"`{a['baseline']}` {_ms(a.get('baseline_p95_ms'))}; users only ever saw `{a['baseline']}`"]
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


def _conclusive(records: list[dict[str, Any]]) -> list[str]:
    """Sequential runs: per step, when each check was decided — by its always-valid test, or by the fixed rule
    once the step had its minimum exposure."""
    started = next((r for r in records if r["event"] == "run_started"), {})
    if started.get("scenario", {}).get("analysis", {}).get("mode") != "sequential":
        return []
    lines = ["", "## When each check became conclusive (sequential looks)", "",
             "| step | check | verdict | after | samples | how |", "|---|---|---|---|---|---|"]
    decided: dict[tuple[str, str], dict[str, Any]] = {}
    for a in (r for r in records if r["event"] == "analysis" and r.get("checks")):
        for check in a["checks"]:
            key = (a.get("label", ""), check["name"])
            if key in decided or check["verdict"] == "Inconclusive":
                continue
            decided[key] = {**check, "window_s": a.get("window_s")}
    for (label, name), check in decided.items():
        how = "always-valid test" if check.get("conclusive") else "minimum exposure reached"
        lines.append(f"| {label} | {name} | {check['verdict']} | {check['window_s']}s | {_num(check.get('samples'))} | "
                     f"{how} |")
    return lines if decided else []


def render_summary(records: list[dict[str, Any]], load: LoadStats | None = None) -> str:
    lines = _header(records) + _references(records) + _events(records) + _experiment(records) + _analyses(records)
    lines += _conclusive(records)
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
