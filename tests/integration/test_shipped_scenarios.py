"""Every shipped scenario reaches the decision it promises.

Four run elsewhere, on a lab of their own, through `assert_expected_decision` below: canary-basic
(test_canary_basic.py), bluegreen-basic (test_blue_green.py) and the three of compare-bad-release
(test_compare.py), so no scenario runs twice in the suite.

Time-scaled (7.5 s windows) with more users, so the scenarios' own minimum samples still hold. They share
one lab serving every version they need (`rolloutlab run` uses a lab that is already up), which saves a
start-up per scenario; test_canary_basic.py covers a run that starts and stops its own lab.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rolloutlab.cli.experiments import EXIT_CODES
from rolloutlab.journal import read_journal
from rolloutlab.scenario import list_scenarios, load_scenario
from tests.integration.conftest import lab_processes, rolloutlab

RUN_ELSEWHERE = {"canary-basic": "test_canary_basic.py", "bluegreen-basic": "test_blue_green.py",
                 "canary-slow": "compare-bad-release", "bluegreen-bad-release": "compare-bad-release",
                 "shadow-slow": "compare-bad-release"}
SHARED = sorted({v for s in (load_scenario(str(p)) for p in list_scenarios()) if s.name not in RUN_ELSEWHERE
                 for v in s.versions.all})

FAST = ["--time-scale", "0.5", "--set", "load.users=25"]
SCENARIOS = [load_scenario(str(p)) for p in list_scenarios()]
DECIDED_BY = {  # the checks of which each bad release must trip at least one
    "canary-slow": {"p95_ms"}, "canary-flaky": {"error_rate"}, "canary-tail-latency": {"p99_ms"},
    "canary-degraded": {"accuracy"}, "canary-leaky": {"memory_per_request"},
    "bluegreen-bad-release": {"p50_ms", "p95_ms"}, "shadow-slow": {"p95_ms"},
}


def run(scenario_name: str) -> tuple[object, list[dict], Path]:
    result = rolloutlab("run", scenario_name, *FAST, timeout=400)
    assert "as this scenario expects" in result.stdout, result.stdout + result.stderr
    journal = Path(next(line for line in result.stdout.splitlines() if line.startswith("journal:")).split(":", 1)[1].strip())
    return result, read_journal(journal), journal.parent


@pytest.fixture(scope="module")
def shared_lab(lab_home: Path, built_models: None):
    """One lab for every scenario of this module; nothing of it may outlive the module."""
    assert lab_processes(lab_home) == []
    up = rolloutlab("up", "--versions", ",".join(SHARED), timeout=900)
    assert up.returncode == 0, up.stdout + up.stderr
    yield lab_home
    down = rolloutlab("down")
    assert down.returncode == 0, down.stdout + down.stderr
    leftovers = lab_processes(lab_home)
    for process in leftovers:
        process.kill()
    assert leftovers == [], f"lab processes left running: {[p.info['cmdline'] for p in leftovers]}"


def test_the_scenarios_run_elsewhere_are_shipped_and_really_run_there() -> None:
    from rolloutlab.comparison import load_comparison, resolve_comparison

    assert set(RUN_ELSEWHERE) <= {s.name for s in SCENARIOS}, "a scenario named as run elsewhere is not shipped"
    for name, where in RUN_ELSEWHERE.items():
        if where.endswith(".py"):  # that module runs it and checks its decision through assert_expected_decision
            source = (Path(__file__).parent / where).read_text()
            assert f'"{name}"' in source, f"{where} does not run {name}"
        else:  # test_compare.py runs this comparison and checks each of its runs
            comparison, _ = load_comparison(resolve_comparison(where))
            assert name in comparison.scenarios, f"{where} does not run {name}"
            assert f'"{where}"' in (Path(__file__).parent / "test_compare.py").read_text()


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.name not in RUN_ELSEWHERE], ids=lambda s: s.name)
def test_shipped_scenario_reaches_its_expected_decision(shared_lab: Path, scenario) -> None:
    assert scenario.expect is not None, f"{scenario.name} must say what it is meant to show (expect:)"
    result, records, run_dir = run(scenario.name)
    assert result.returncode == EXIT_CODES[scenario.expect]
    assert_expected_decision(scenario, records, run_dir)
    assert "using the running lab" in result.stdout


def assert_expected_decision(scenario, records: list[dict], run_dir: Path) -> None:
    """What a run of a shipped scenario must show, wherever it ran (this module's shared lab, or its own)."""
    finished = records[-1]
    assert finished["event"] == "run_finished" and finished["outcome"] == scenario.expect
    candidate = scenario.candidate
    if scenario.expect in ("rolled back", "rejected"):
        assert finished["final_weights"][candidate] == 0
    if scenario.name in DECIDED_BY:
        failed = [r for r in records if r["event"] == "analysis" and r["verdict"] == "Failed"]
        assert failed, f"no analysis failed: {[r.get('reasons') for r in records if r['event'] == 'analysis']}"
        tripped = [c["name"] for c in failed[0]["checks"] if c["verdict"] == "Failed"]
        assert DECIDED_BY[scenario.name] & set(tripped), failed[0]["reasons"]
    checks = {"blue-green": check_blue_green, "ab-test": check_ab_test, "bandit": check_bandit,
              "shadow": check_shadow}
    if scenario.strategy in checks:
        checks[scenario.strategy](scenario, records, run_dir)
    if scenario.name == "gate-degraded":
        gate = next(r for r in records if r["event"] == "gate" and r["name"] == "offline_eval")
        assert not gate["passed"] and gate["numbers"]["candidate_accuracy"] < 0.85
        routing = [r for r in records if r["event"] == "routing_applied"]
        assert all(r["weights"].get("degraded", 0) == 0 for r in routing)  # no user request reached it


def served_by(run_dir: Path) -> dict[str, float]:
    """Predictions per version that answered them, as the load generator counted (its final metrics file)."""
    text = (run_dir / "load" / "client-metrics-local.prom").read_text()
    served: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rolloutlab_client_requests_total" and sample.labels["outcome"] == "ok":
                served[sample.labels["served_version"]] = served.get(sample.labels["served_version"], 0) + sample.value
    return served


def last_notes(records: list[dict]) -> dict:
    return [r for r in records if r["event"] == "decision"][-1]["notes"]


def check_ab_test(scenario, records: list[dict], run_dir: Path) -> None:
    notes = last_notes(records)
    assert notes["srm"]["checked"] and notes["srm"]["p_value"] > 0.001  # users split as configured
    assert "randomised by user" in notes["unit"]
    result = notes["results"][scenario.candidate]
    if scenario.expect == "winner":
        assert result["ci_low"] > 0 and result["p_value"] < 0.05
        assert records[-1]["final_weights"][scenario.candidate] == 100
    else:  # A/A: two builds of the same recipe differ by nothing but noise
        assert result["ci_low"] <= 0 <= result["ci_high"]
        assert records[-1]["final_weights"][scenario.versions.baseline] == 100
    arms = notes["arms"]
    assert min(a["labelled"] for a in arms.values()) >= notes["needed_per_arm"] or "underpowered" in records[-1]["reason"]


def check_bandit(scenario, records: list[dict], run_dir: Path) -> None:
    rounds = [r["notes"] for r in records if r["event"] == "decision" and r["notes"].get("p_best")]
    assert len(rounds) >= scenario.bandit.stop_intervals
    final = rounds[-1]
    winner = max(final["p_best"], key=final["p_best"].get)
    assert winner in ("v2", "v3")  # the two good models (≈ 99 % and ≈ 98.5 %); never v1 or degraded
    assert records[-1]["final_weights"][winner] == 100
    assert final["regret"] < final["equal_split_regret"]  # cheaper than an equal split of the same requests
    if "degraded" in final["weights"]:
        assert final["weights"]["degraded"] == min(final["weights"].values())  # the worst arm gets the least


def check_shadow(scenario, records: list[dict], run_dir: Path) -> None:
    baseline, shadow = scenario.versions.baseline, scenario.candidate
    agreement = [r for r in records if r["event"] == "agreement"][-1]
    assert agreement["matched"] > 100
    if shadow == "degraded":  # wrong answers: it disagrees, and is less accurate on the same labelled requests
        assert agreement["agreement"] < 0.95
        assert agreement["labelled"] > 50 and agreement["accuracy_gap"] > 0.1
    else:  # slow answers like v2: caught by its latency on the mirrored copies (DECIDED_BY), not its answers
        assert agreement["candidate_p95_ms"] > 3 * agreement["baseline_p95_ms"]
    routing = [r for r in records if r["event"] == "routing_applied"]
    assert all(r["weights"].get(shadow, 0) == 0 for r in routing)
    assert any((r["routing"].get("mirror") or {}).get("version") == shadow for r in routing)
    served = served_by(run_dir)
    assert served.get(baseline, 0) > 500 and served.get(shadow, 0) == 0  # users only ever saw the baseline


def check_blue_green(scenario, records: list[dict], run_dir: Path) -> None:
    blue, green = scenario.versions.baseline, scenario.candidate
    smoke = next(r for r in records if r["event"] == "smoke")
    routing = [r for r in records if r["event"] == "routing_applied"]
    if scenario.expect == "rejected":
        # Green never received a user's request: weight 0 and no mirror in every state ever applied.
        assert not smoke["passed"] and "accuracy" in smoke["summary"]
        assert all(r["weights"].get(green, 0) == 0 and r["routing"].get("mirror") is None for r in routing)
        return
    assert smoke["passed"], smoke
    switch = next(r for r in records if r["event"] == "switch")
    assert switch["switch_s"] is not None and switch["switch_s"] < 10
    assert switch["failed_requests"] == 0  # an atomic switch under load loses nothing
    if scenario.expect == "promoted":
        retired = next(r for r in records if r["event"] == "retired")
        # A lab that was up before the run is the user's: blue is left running there, stopped otherwise.
        shared = not next(r for r in records if r["event"] == "target")["started_here"]
        assert retired["version"] == blue and ("left running" if shared else "stopped") in retired["message"]
        assert routing[-1]["weights"] == {green: 100}
        with open(run_dir / "load" / "locust_stats.csv") as stats:
            total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
        assert int(total["Failure Count"]) == 0 and int(total["Request Count"]) > 500
    else:  # rolled back after the watch window: blue, never stopped, takes everyone back
        assert routing[-1]["weights"] == {blue: 100, green: 0}
        assert not [r for r in records if r["event"] == "retired"]
