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


# --- how long each test layer took (printed at the end, so CI shows where its time goes) -----------
_LAYER_SECONDS: dict[str, float] = {}
_LAYER_COUNTS: dict[str, int] = {}


def _layer(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    layer = _layer(report.nodeid)
    _LAYER_SECONDS[layer] = _LAYER_SECONDS.get(layer, 0.0) + report.duration  # setup + call + teardown
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _LAYER_COUNTS[layer] = _LAYER_COUNTS.get(layer, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _LAYER_SECONDS:
        return
    terminalreporter.section("time per test layer")
    order = ["unit", "infra", "integration", "testbed", "node"]
    for layer in sorted(_LAYER_SECONDS, key=lambda name: order.index(name) if name in order else len(order)):
        terminalreporter.write_line(f"{layer:<12} {_LAYER_COUNTS.get(layer, 0):>4} tests  "
                                    f"{_LAYER_SECONDS[layer]:7.1f} s")
