"""Where things live: the project checkout (scenarios, models, locustfiles) and the lab's home."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from rolloutlab.errors import RolloutLabError, RunDirError

PROJECT_MARKERS = ("Pulumi.yaml", "experiments", "models")


def project_root(start: Path | None = None) -> Path:
    """The Rollout Lab checkout: $ROLLOUTLAB_PROJECT, else the nearest parent holding Pulumi.yaml, experiments/, models/."""
    explicit = os.environ.get("ROLLOUTLAB_PROJECT")
    if explicit:
        return Path(explicit).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if all((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    # An installed package still finds the checkout it was installed from (editable installs).
    source_checkout = Path(__file__).resolve().parents[2]
    if all((source_checkout / marker).exists() for marker in PROJECT_MARKERS):
        return source_checkout
    raise RolloutLabError(
        f"no Rollout Lab project found from {here}: run inside the checkout or set ROLLOUTLAB_PROJECT"
    )


def lab_home() -> Path:
    """The lab's working directory (state, logs, runs, BentoML store): $ROLLOUTLAB_HOME or <project>/.rolloutlab."""
    explicit = os.environ.get("ROLLOUTLAB_HOME")
    home = Path(explicit) if explicit else project_root() / ".rolloutlab"
    home.mkdir(parents=True, exist_ok=True)
    return home.resolve()


def bentoml_home() -> Path:
    """BentoML's store: $BENTOML_HOME when the user set one, else a store private to the lab."""
    explicit = os.environ.get("BENTOML_HOME")
    return Path(explicit) if explicit else lab_home() / "bentoml"


def bentoml_env() -> dict[str, str]:
    """Environment for any BentoML call: the lab's store, no usage tracking, and this venv's tools first.

    BentoML runs helper programs by name (a bento build calls `uv` to freeze requirements): they must be
    the ones locked in this virtualenv, not whatever the caller's PATH happens to hold (or lacks).
    """
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([venv_bin, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)])
    return {**os.environ, "PATH": path, "BENTOML_HOME": str(bentoml_home()), "BENTOML_DO_NOT_TRACK": "true"}


# A run writes a journal, Locust's CSV history, Prometheus evidence and reports: a few MiB; this leaves room.
MIN_FREE_BYTES = 64 * 2**20


def new_run_dir(home: Path, label: str, kind: str = "runs") -> Path:
    """<kind>/<timestamp>-<label> under home (runs/, comparisons/), never reusing an existing directory."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = home / kind / f"{stamp}-{label}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = home / kind / f"{stamp}-{label}-{suffix}"
    try:
        run_dir.mkdir(parents=True)
        probe = run_dir / ".writable"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"cannot write a run directory under {home / kind}: {exc.strerror or exc}") from exc
    free = shutil.disk_usage(run_dir).free
    if free < MIN_FREE_BYTES:
        raise RunDirError(f"only {free / 2**20:.0f} MiB free for {run_dir}; a run needs at least "
                          f"{MIN_FREE_BYTES // 2**20} MiB (journal, load statistics, evidence, reports)")
    return run_dir


def write_atomically(path: Path, text: str) -> None:
    """Replace path's content in one step: readers (Prometheus, `down` after a crash) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
