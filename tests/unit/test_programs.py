from __future__ import annotations

import pytest

from rolloutlab.errors import ProgramMissing
from rolloutlab.targets import programs


def test_missing_program_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ROLLOUTLAB_PROMETHEUS", raising=False)
    monkeypatch.setattr(programs, "_EXTRA_DIRS", ["/nonexistent-sbin"])
    monkeypatch.setattr(programs.platform, "system", lambda: "Linux")
    with pytest.raises(ProgramMissing, match=r"prometheus is not installed .*apt-get install prometheus"):
        programs.find_program("prometheus")


def test_override_must_be_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUTLAB_NGINX", "/nonexistent/nginx")
    with pytest.raises(ProgramMissing, match="ROLLOUTLAB_NGINX=/nonexistent/nginx is not an executable program"):
        programs.find_program("nginx")


def test_sbin_is_searched_even_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ROLLOUTLAB_NGINX", raising=False)
    assert programs.find_program("nginx").endswith("/nginx")


def test_missing_load_tool_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests drive the router with hey; a fresh machine lacks it until bootstrap installs it.
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ROLLOUTLAB_HEY", raising=False)
    monkeypatch.setattr(programs, "_EXTRA_DIRS", ["/nonexistent-sbin"])
    monkeypatch.setattr(programs.platform, "system", lambda: "Linux")
    with pytest.raises(ProgramMissing, match=r"hey is not installed .*apt-get install hey"):
        programs.find_program("hey")
