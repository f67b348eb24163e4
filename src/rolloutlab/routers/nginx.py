"""NginxRouter: the local data plane. Render, check with `nginx -t`, reload gracefully, verify live."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from rolloutlab.errors import RoutingError
from rolloutlab.routers.nginx_config import ROUTING_PATH, NginxLayout, render_nginx_config
from rolloutlab.routing import RoutingState


def check_config(nginx: str, config: Path, workdir: Path) -> None:
    """Run `nginx -t` on a config file; raise RoutingError with NGINX's own words if it is invalid."""
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(workdir), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise RoutingError(f"nginx rejected the rendered config {config}: {result.stderr.strip()}")


def write_config(nginx: str, state: RoutingState, layout: NginxLayout) -> Path:
    """Render state, check it with nginx -t, then move it into place atomically; returns the live path."""
    (layout.workdir / "tmp").mkdir(parents=True, exist_ok=True)
    live = layout.workdir / "nginx.conf"
    candidate = layout.workdir / "nginx.conf.next"
    candidate.write_text(render_nginx_config(state, layout), encoding="utf-8")
    try:
        check_config(nginx, candidate, layout.workdir)
    except RoutingError:
        candidate.unlink(missing_ok=True)
        raise
    os.replace(candidate, live)
    (layout.workdir / "routing.json").write_text(json.dumps(state.to_dict()), encoding="utf-8")
    return live


def served_generation(port: int, timeout: float = 1.0) -> int | None:
    """The routing generation NGINX is answering with now, or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{ROUTING_PATH}", timeout=timeout) as response:
            return int(json.load(response)["generation"])
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


class NginxRouter:
    """Carries out routing states on a running NGINX master (started by the local target)."""

    def __init__(self, nginx: str, layout: NginxLayout, master_pid: int) -> None:
        self.nginx = nginx
        self.layout = layout
        self.master_pid = master_pid

    def current(self) -> RoutingState:
        data = json.loads((self.layout.workdir / "routing.json").read_text(encoding="utf-8"))
        return RoutingState(dict(data["weights"]), int(data["generation"]))

    def apply(self, state: RoutingState, verify_timeout: float = 10.0) -> RoutingState:
        state.validate(frozenset(self.layout.backends))
        previous = self.current()
        new = RoutingState(dict(state.weights), previous.generation + 1, state.reason)
        write_config(self.nginx, new, self.layout)
        self._reload()
        if self._wait_for_generation(new.generation, verify_timeout):
            return new
        # The reload did not take: put the previous state back so traffic stays where it was.
        write_config(self.nginx, previous, self.layout)
        self._reload()
        raise RoutingError(
            f"nginx did not serve routing generation {new.generation} within {verify_timeout:.0f}s; "
            f"kept {previous.describe()} (see {self.layout.workdir / 'nginx-error.log'})"
        )

    def _reload(self) -> None:
        # SIGHUP makes the master start new workers on the new config and let old ones finish
        # their requests: no connection is dropped.
        try:
            os.kill(self.master_pid, signal.SIGHUP)
        except ProcessLookupError as exc:
            raise RoutingError(f"nginx (pid {self.master_pid}) is not running; is the lab up?") from exc

    def _wait_for_generation(self, generation: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if served_generation(self.layout.listen_port) == generation:
                return True
            time.sleep(0.05)
        return False
