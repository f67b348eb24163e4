"""Build catalogue versions into the lab's BentoML store, once each: content-tagged and immutable.

The build itself runs models/build.py in a child process: BentoML reads BENTOML_HOME when it is first
imported, and the lab's store must not depend on what this process imported before.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rolloutlab.errors import CatalogueError
from rolloutlab.paths import bentoml_env, bentoml_home, lab_home, project_root
from rolloutlab.zoo.catalogue import Catalogue, load_catalogue
from rolloutlab.zoo.identity import describe_changes
from rolloutlab.zoo.store import builds_of, built

Progress = Callable[[str], None]
ERROR_MARK = "ROLLOUTLAB-BUILD-ERROR "


def is_built(catalogue: Catalogue, name: str) -> bool:
    """True when the store holds the bento of exactly this entry's current content."""
    return built(catalogue, name) is not None


def holdout_path() -> Path:
    """Held-out rows as JSON: a list of {"features": [64 floats], "label": int}."""
    return lab_home() / "data" / "holdout.json"


def stale_builds(catalogue: Catalogue, name: str) -> list[Any]:
    """Bentos built earlier from this name whose content differs from the entry now."""
    current = catalogue.version_string(name)
    return [b for b in builds_of(catalogue, name) if b.version != current]


def _refusal(catalogue: Catalogue, name: str, stale: list[Any]) -> str:
    old = stale[-1]
    changes = describe_changes(old.manifest, catalogue.identity(name).manifest) or ["(manifest unreadable)"]
    return (
        f"{catalogue.where('versions', name)}: version {name!r} is already built as {old.tag} and its content "
        f"changed since: {'; '.join(changes)}. A built version never changes: add the changed entry under a "
        f"new name, or discard the old build with `rolloutlab models build --replace {name}`"
    )


def _plan_item(catalogue: Catalogue, name: str, discard: list[str]) -> dict[str, Any]:
    identity = catalogue.identity(name)
    spec = catalogue.versions[name]
    return {
        "name": name,
        "version": identity.version,
        "digest": identity.digest,
        "description": spec.description,
        "model_tag": catalogue.model_tag(name),
        "bento_tag": catalogue.bento_tag(name),
        "service": catalogue.service,
        "recipe": spec.recipe.model_dump(mode="json"),
        "faults": spec.faults.model_dump(mode="json", exclude_none=True),
        "serving": catalogue.serving.model_dump(mode="json"),
        "manifest": identity.manifest,
        "discard": discard,
    }


@contextmanager
def _store_lock() -> Iterator[None]:
    """One build at a time per store (two `rolloutlab` commands may start at once)."""
    home = bentoml_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".rolloutlab-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_built(
    versions: list[str],
    catalogue: Catalogue | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Build the versions not yet in the store (and the held-out rows); returns those it built.

    A name built earlier from different content is refused (naming what changed) unless replace=True,
    which discards the old bento and model first.
    """
    catalogue = catalogue or load_catalogue()
    catalogue.require(versions)
    with _store_lock():
        plan = []
        for name in dict.fromkeys(versions):
            if is_built(catalogue, name):
                continue
            stale = stale_builds(catalogue, name)
            if stale and not replace:
                raise CatalogueError(_refusal(catalogue, name, stale))
            discard = [b.tag for b in stale] + [f"{catalogue.model}:{b.version}" for b in stale]
            plan.append(_plan_item(catalogue, name, discard))
        if not plan and holdout_path().is_file():
            return []
        if plan and progress:
            progress(f"building {', '.join(item['name'] for item in plan)} into {bentoml_home()}")
        _run_build(catalogue, plan, progress)
    return [item["name"] for item in plan]


def _run_build(catalogue: Catalogue, plan: list[dict[str, Any]], progress: Progress | None) -> None:
    holdout_path().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rolloutlab-plan-") as tmp:
        plan_file = Path(tmp) / "plan.json"
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
        errors = Path(tmp) / "stderr.log"
        command = [sys.executable, str(project_root() / "models" / "build.py"),
                   "--plan", str(plan_file), "--holdout", str(holdout_path())]
        with open(errors, "w+", encoding="utf-8") as err:
            process = subprocess.Popen(command, env=bentoml_env(), stdout=subprocess.PIPE, stderr=err, text=True)
            assert process.stdout is not None
            for line in process.stdout:
                if progress and line.strip():
                    progress(f"  {line.rstrip()}")
            code = process.wait()
            err.seek(0)
            stderr = err.read()
    if code != 0:
        raise _build_error(catalogue, plan, stderr)


def _build_error(catalogue: Catalogue, plan: list[dict[str, Any]], stderr: str) -> CatalogueError:
    for line in reversed(stderr.splitlines()):
        if line.startswith(ERROR_MARK):
            problem = json.loads(line.removeprefix(ERROR_MARK))
            name, field = problem["version"], problem["field"]
            spec = catalogue.versions[name]
            owner = spec.recipe_from if field.startswith("recipe") else name
            via = f" (recipe of {owner}, used by {name})" if owner != name else ""
            where = catalogue.where("versions", owner, *field.split("."))
            return CatalogueError(f"{where}: versions.{owner}.{field}{via}: {problem['message']}")
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    return CatalogueError(f"building {', '.join(item['name'] for item in plan) or 'the held-out rows'} failed:\n{tail}")

