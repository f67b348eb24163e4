"""The local lab's Watch: which of its recorded processes (servers, Prometheus, router, NGINX) are gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil

from rolloutlab.faults import Fault
from rolloutlab.targets.processes import is_alive

MODEL_PREFIX = "model "  # the local target names a version's server process "model <version>"


class LabWatch:
    """Faults of one running lab, read from its state (the PIDs it recorded) and NGINX's own pid file."""

    def __init__(self, processes: list[Any], nginx_pid_file: Path) -> None:
        self.processes = list(processes)
        self.nginx_pid_file = nginx_pid_file

    def faults(self) -> list[Fault]:
        found = []
        for record in self.processes:
            if is_alive(record):
                continue
            if record.name.startswith(MODEL_PREFIX):
                version = record.name.removeprefix(MODEL_PREFIX)
                found.append(Fault(record.name, f"the server of {version} (pid {record.pid}) exited", version))
            elif record.name == "prometheus":
                found.append(Fault("prometheus", f"metrics unavailable: prometheus (pid {record.pid}) exited"))
            else:
                found.append(Fault(record.name, f"{record.name} (pid {record.pid}) exited"))
        nginx = self._nginx_gone()
        if nginx:
            found.append(Fault("nginx", nginx))
        return found

    def _nginx_gone(self) -> str | None:
        try:
            pid = int(self.nginx_pid_file.read_text().strip())
        except (OSError, ValueError):
            return None  # NGINX removes its pid file on a clean exit; the router record covers that case
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE and " ".join(process.cmdline()).startswith("nginx: master"):
                return None
        except psutil.Error:
            pass
        return f"the router is gone: nginx (pid {pid}) is not running"
