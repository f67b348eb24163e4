"""Run the Locust prediction user headless in its own process, and read its CSV results."""

from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rolloutlab.errors import LoadError
from rolloutlab.targets.processes import ProcessRecord, is_alive, log_tail, spawn, stop


@dataclass(frozen=True)
class LoadSpec:
    locustfile: Path
    host: str
    users: int
    rate_per_user: float
    seed: int
    holdout: Path
    max_seconds: float  # a hard bound: Locust stops itself even if nobody stops it


@dataclass(frozen=True)
class LoadStats:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float


class LocustRunner:
    def __init__(self, spec: LoadSpec, out_dir: Path) -> None:
        self.spec = spec
        self.out_dir = out_dir
        self.record: ProcessRecord | None = None

    def start(self) -> ProcessRecord:
        spec = self.spec
        self.out_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "locust", "-f", str(spec.locustfile), "--headless",
            "--host", spec.host, "--users", str(spec.users), "--spawn-rate", str(spec.users),
            "--run-time", f"{int(spec.max_seconds) + 1}s", "--stop-timeout", "2",
            "--csv", str(self.out_dir / "locust"), "--only-summary", "--loglevel", "WARNING",
        ]
        env = {
            **os.environ,
            "ROLLOUTLAB_HOLDOUT": str(spec.holdout),
            "ROLLOUTLAB_RATE_PER_USER": str(spec.rate_per_user),
            "ROLLOUTLAB_SEED": str(spec.seed),
        }
        self.record = spawn("load (locust)", argv, self.out_dir / "locust.log", env=env)
        time.sleep(0.5)
        if not is_alive(self.record):
            raise LoadError(f"locust exited at start; last lines of {self.record.log}:\n{log_tail(self.record.log)}")
        return self.record

    def alive(self) -> bool:
        return self.record is not None and is_alive(self.record)

    def stop(self) -> None:
        # SIGTERM makes Locust stop its users and write its CSV files before it exits.
        if self.record is not None:
            stop(self.record, timeout=15)

    def stats(self) -> LoadStats | None:
        """The 'Aggregated' row of Locust's stats CSV, if Locust wrote one."""
        path = self.out_dir / "locust_stats.csv"
        if not path.is_file():
            return None
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("Name") == "Aggregated":
                    return LoadStats(
                        requests=int(row["Request Count"]),
                        failures=int(row["Failure Count"]),
                        rps=float(row["Requests/s"]),
                        p50_ms=float(row["50%"] or "nan"),
                        p95_ms=float(row["95%"] or "nan"),
                    )
        return None
