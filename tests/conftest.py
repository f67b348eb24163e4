"""Shared test setup: an isolated lab home and BentoML store per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# Gateway API v1.6.1 CRDs, kept in the repository (tests/crds/README.md): schemas the rendered routes must match.
GATEWAY_API_CRDS = PROJECT / "tests" / "crds" / "gateway-api-v1.6.1"


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("rolloutlab-home")
    return home


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(lab_home: Path) -> None:
    os.environ["ROLLOUTLAB_HOME"] = str(lab_home)
    os.environ["ROLLOUTLAB_PROJECT"] = str(PROJECT)
    os.environ["BENTOML_HOME"] = str(lab_home / "bentoml")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"


# --- per test layer: how long it took, how many ran, passed, failed and skipped (and why) ----------
# CI names what this machine can run (ROLLOUTLAB_REQUIRE, e.g. "docker,chromium,testbed"): a test skipped
# for a reason naming one of those fails the session, so a layer that should have run cannot hide.
_LAYER_SECONDS: dict[str, float] = {}
_LAYER_OUTCOMES: dict[str, dict[str, int]] = {}
_SKIP_REASONS: dict[str, dict[str, int]] = {}
_SKIPPED_BUT_REQUIRED: list[str] = []


def _layer(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


# What each capability's skip reason says (the skipif reasons in the layers): the phrase that gives it away.
SKIP_PHRASES = {"docker": "no docker engine", "chromium": "no chromium", "testbed": "the testbed needs"}


def _required() -> list[str]:
    """Skip-reason phrases that must not occur: those of the capabilities CI found on this machine."""
    names = [c.strip().lower() for c in os.environ.get("ROLLOUTLAB_REQUIRE", "").split(",") if c.strip()]
    unknown = [n for n in names if n not in SKIP_PHRASES]
    if unknown:
        raise pytest.UsageError(f"ROLLOUTLAB_REQUIRE: unknown {', '.join(unknown)}; known: {', '.join(SKIP_PHRASES)}")
    return [SKIP_PHRASES[n] for n in names]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    layer = _layer(report.nodeid)
    _LAYER_SECONDS[layer] = _LAYER_SECONDS.get(layer, 0.0) + report.duration  # setup + call + teardown
    outcome = None
    if report.skipped and report.when in ("setup", "call"):
        outcome = "skipped"
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons = _SKIP_REASONS.setdefault(layer, {})
        reasons[reason] = reasons.get(reason, 0) + 1
        if any(phrase in reason.lower() for phrase in _required()) or (
                "testbed" in os.environ.get("ROLLOUTLAB_REQUIRE", "") and reason.startswith("no testbed at")):
            _SKIPPED_BUT_REQUIRED.append(f"{report.nodeid}: {reason}")
    elif report.failed:
        outcome = "failed"
    elif report.when == "call" and report.passed:
        outcome = "passed"
    if outcome is not None:
        counts = _LAYER_OUTCOMES.setdefault(layer, {"passed": 0, "failed": 0, "skipped": 0})
        counts[outcome] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_BUT_REQUIRED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _LAYER_SECONDS:
        return
    terminalreporter.section("per test layer: tests, outcomes, time")
    order = ["unit", "infra", "integration", "testbed", "node"]
    for layer in sorted(_LAYER_SECONDS, key=lambda name: order.index(name) if name in order else len(order)):
        c = _LAYER_OUTCOMES.get(layer, {"passed": 0, "failed": 0, "skipped": 0})
        ran = c["passed"] + c["failed"]
        terminalreporter.write_line(f"{layer:<12} {ran:>4} ran  {c['passed']:>4} passed  {c['failed']:>3} failed  "
                                    f"{c['skipped']:>3} skipped  {_LAYER_SECONDS[layer]:7.1f} s")
        for reason, n in sorted(_SKIP_REASONS.get(layer, {}).items()):
            terminalreporter.write_line(f"{'':<12} skipped {n} × {reason}")
    if _SKIPPED_BUT_REQUIRED:
        terminalreporter.write_line(f"FAILED: {len(_SKIPPED_BUT_REQUIRED)} tests skipped although this machine can "
                                    f"run them (ROLLOUTLAB_REQUIRE={os.environ.get('ROLLOUTLAB_REQUIRE')}):", red=True)
        for line in _SKIPPED_BUT_REQUIRED:
            terminalreporter.write_line(f"  {line}", red=True)
