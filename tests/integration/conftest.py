"""Integration tests: real BentoML servers, NGINX, Prometheus and Locust on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from rolloutlab import zoo

PROJECT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "rolloutlab.cli"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def built_models(lab_home: Path) -> None:
    """Both catalogue versions built once for the session (the first build trains and packs them)."""
    zoo.ensure_built(["v1", "v2"])


def lab_processes(home: Path) -> list[psutil.Process]:
    """Processes belonging to a lab home: by command line, working directory or BentoML home."""
    found = []
    needle = str(home)
    for process in psutil.process_iter(["pid", "cmdline", "cwd", "environ"]):
        if process.pid == os.getpid():
            continue
        info = process.info
        haystack = " ".join(info.get("cmdline") or []) + " " + str(info.get("cwd") or "")
        haystack += " " + str((info.get("environ") or {}).get("BENTOML_HOME", ""))
        if needle in haystack and process.status() != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def assert_no_leftovers(home: Path) -> None:
    """Kill whatever of the lab home still runs, then fail naming it (a fixture's teardown check)."""
    leftovers = lab_processes(home)
    for process in leftovers:
        process.kill()
    assert leftovers == [], f"processes left running: {[p.info['cmdline'] for p in leftovers]}"


def rolloutlab(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=PROJECT, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def home(lab_home: Path, built_models: None) -> Path:
    """The session's lab home, checked clean before and after each test."""
    assert lab_processes(lab_home) == []
    yield lab_home
    leftovers = lab_processes(lab_home)
    for process in leftovers:
        process.kill()
    assert leftovers == [], f"lab processes left running: {[p.info['cmdline'] for p in leftovers]}"
