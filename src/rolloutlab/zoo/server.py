"""Start one version's `bentoml serve` on 127.0.0.1 outside a lab (tests, benchmarks); stop it by PID."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from rolloutlab.paths import bentoml_env, bentoml_home
from rolloutlab.targets.processes import ProcessRecord, free_port, spawn, stop
from rolloutlab.zoo.catalogue import Catalogue


@dataclass(frozen=True)
class ModelServer:
    name: str
    url: str
    record: ProcessRecord

    def rss_bytes(self) -> int:
        """Resident memory of the server and all its processes (BentoML's arbiter and workers)."""
        try:
            root = psutil.Process(self.record.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        stop(self.record)


PREDICTION_LOG_ENV = "ROLLOUTLAB_PREDICTION_LOG"
PREDICTION_LOG = "predictions.jsonl"  # in each server's working directory (models/prediction_log.py)
FEATURES_SHARE_ENV = "ROLLOUTLAB_LOG_FEATURES"
# Half the requests carry their features into the log: the drift monitor's windows fill twice as slowly
# as the traffic, and each line stays small for the other half.
FEATURES_SHARE = 0.5


def serving_env(workdir: Path) -> dict[str, str]:
    """A BentoML home of its own sharing the store's bentos and models.

    BentoML keeps its Prometheus multiprocess files in $BENTOML_HOME and wipes them at start: two
    servers on one home would export (and reset) each other's counters.
    """
    store = bentoml_home()
    workdir.mkdir(parents=True, exist_ok=True)
    for shared in ("bentos", "models"):
        link = workdir / shared
        if not link.is_symlink():
            link.symlink_to(store / shared, target_is_directory=True)
    return {**bentoml_env(), "BENTOML_HOME": str(workdir), PREDICTION_LOG_ENV: str(workdir / PREDICTION_LOG),
            FEATURES_SHARE_ENV: str(FEATURES_SHARE)}


def start_server(catalogue: Catalogue, name: str, workdir: Path, port: int | None = None) -> ModelServer:
    """Spawn `bentoml serve <content tag>` for a built version; the caller waits for /readyz and stops it."""
    port = port or free_port()
    home = workdir / name
    record = spawn(
        f"model {name}",
        [sys.executable, "-m", "bentoml", "serve", catalogue.bento_tag(name), "--host", "127.0.0.1",
         "--port", str(port)],
        workdir / f"{name}.log", env=serving_env(home), cwd=home,
    )
    return ModelServer(name, f"http://127.0.0.1:{port}", record)
