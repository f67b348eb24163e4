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
