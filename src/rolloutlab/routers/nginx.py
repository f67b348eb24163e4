"""NginxRouter: the local data plane. Render, `nginx -t`, drain keep-alive connections, reload gracefully, verify live."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from rolloutlab.errors import RoutingError
from rolloutlab.paths import write_atomically
from rolloutlab.routers.nginx_config import (
    DRAIN_FLAG,
    DRAINING_PATH,
    ROUTING_PATH,
    NginxLayout,
    render_nginx_config,
)
from rolloutlab.routing import RoutingState

STATE_FILE = "routing.json"


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
    write_atomically(layout.workdir / STATE_FILE, json.dumps({**state.to_dict(), "reason": state.reason}))
    return live


def _get(port: int, path: str, timeout: float = 1.0) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def served_state(port: int, timeout: float = 1.0) -> dict | None:
    """The routing state NGINX is answering with now (as to_dict wrote it), or None if it does not answer."""
    try:
        return json.loads(_get(port, ROUTING_PATH, timeout) or "")
    except ValueError:
        return None


def served_generation(port: int, timeout: float = 1.0) -> int | None:
    """The routing generation NGINX is answering with now, or None if it does not answer."""
    served = served_state(port, timeout)
    try:
        return int(served["generation"]) if served else None
    except (KeyError, TypeError, ValueError):
        return None


def _client_connections(port: int) -> set[tuple[str, int]] | None:
    """The peers of the established connections to 127.0.0.1:port; None if the OS does not tell us.

    Without that (macOS for non-root users), the drain waits for the keep-alive timeout instead.
    """
    try:
        connections = psutil.net_connections(kind="tcp4")
    except psutil.AccessDenied:
        return None
    return {(c.raddr.ip, c.raddr.port) for c in connections
            if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port and c.raddr}


class NginxRouter:
    """Carries out routing states on a running NGINX master (started by the local target).

    Changes are serialised by a lock file, so the engine and `rolloutlab route set` cannot interleave.
    """

    def __init__(self, nginx: str, layout: NginxLayout, master_pid: int | None = None) -> None:
        self.nginx = nginx
        self.layout = layout
        self._master_pid = master_pid

    def current(self) -> RoutingState:
        path = self.layout.workdir / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RoutingError(f"cannot read the router's state {path}: {exc}") from exc
        return RoutingState.from_dict(data, where=str(path))

    def apply(self, state: RoutingState, verify_timeout: float = 10.0) -> RoutingState:
        state.validate(frozenset(self.layout.backends))
        with self._locked():
            previous = self.current()
            try:
                self.master()  # NGINX gone: say so at once, not as a drain check failing on a dead port
            except RoutingError as exc:
                raise RoutingError(f"{exc}; kept {previous.describe()} (nothing changed)") from exc
            new = state.with_generation(previous.generation + 1)
            write_config(self.nginx, new, self.layout)  # nginx -t failed: nothing changed
            try:
                with self._draining():
                    self._reload()
                    if self._wait_until_live(new.generation, verify_timeout):
                        return new
                problem = f"nginx did not serve routing generation {new.generation} within {verify_timeout:.0f}s"
            except RoutingError as exc:
                problem = str(exc)
            self._restore(previous)
            raise RoutingError(f"{problem}; kept {previous.describe()} (see {self.layout.workdir / 'nginx-error.log'})")

    def _restore(self, previous: RoutingState) -> None:
        """Put the previous state back so traffic stays where it was (as far as NGINX still runs)."""
        write_config(self.nginx, previous, self.layout)
        try:
            with self._draining():
                self._reload()
        except RoutingError:
            pass

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.layout.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.layout.workdir / "routing.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _draining(self) -> Iterator[None]:
        """Make every answer close its connection; return once the keep-alive connections from before are gone.

        An exiting NGINX worker cuts only *idle* keep-alive connections; one with a request in flight, or
        one not used yet, is served to the end (with `Connection: close`). An idle connection from
        before the flag goes after its next request. So the wait is usually one request interval of the
        slowest client, and at most drain_timeout_s; what is left then is connections their client has
        not used for that long, cut at the reload: a loss only if the client reuses one at that very
        instant. Waiting for NGINX's keep-alive timer instead would not help: its close races the same
        way, and at a fixed idle age, which clients pausing that long hit every time.
        """
        flag = self.layout.workdir / DRAIN_FLAG
        flag.touch()
        try:
            if _get(self.layout.listen_port, DRAINING_PATH) != "draining":
                raise RoutingError(f"nginx does not see {flag} (can its workers read {self.layout.workdir}?); "
                                   "changing routing now could cut keep-alive connections")
            deadline = time.monotonic() + self.layout.drain_timeout_s
            before = _client_connections(self.layout.listen_port)  # taken after the flag: none is missed
            if before is None:
                time.sleep(self.layout.drain_timeout_s)  # clients still using theirs have closed them by then
            while before and time.monotonic() < deadline:
                time.sleep(0.01)
                before &= _client_connections(self.layout.listen_port) or set()
            yield
        finally:
            flag.unlink(missing_ok=True)

    def master(self) -> psutil.Process:
        """The NGINX master process, from the pid file NGINX writes (checked to be an NGINX master)."""
        pid = self._master_pid
        pid_file = self.layout.workdir / "nginx.pid"
        if pid is None:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError) as exc:
                raise RoutingError(f"nginx is not running (no pid in {pid_file}); is the lab up?") from exc
        try:
            process = psutil.Process(pid)
            # Never signal a PID that is not an NGINX master (a stale pid file, a reused PID).
            title = " ".join(process.cmdline())
            if not title.startswith("nginx: master process") or process.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(pid)
        except psutil.Error as exc:
            raise RoutingError(f"nginx (pid {pid}) is not running; is the lab up?") from exc
        return process

    def _reload(self) -> None:
        # SIGHUP makes the master start new workers on the new config and let old ones finish
        # their requests: no connection is dropped.
        try:
            self.master().send_signal(signal.SIGHUP)
        except psutil.Error as exc:
            raise RoutingError(f"could not signal nginx: {exc}") from exc

    def _wait_until_live(self, generation: int, timeout: float) -> bool:
        """True once NGINX answers with `generation` and no worker of an older config still accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if served_generation(self.layout.listen_port) == generation and self._old_workers_gone():
                return True
            time.sleep(0.02)
        return False

    def _old_workers_gone(self) -> bool:
        # An old worker stops accepting when it starts shutting down (and retitles itself so);
        # until then two plain "worker process" children exist for our single configured worker.
        try:
            titles = [" ".join(child.cmdline()) for child in self.master().children()]
        except (psutil.Error, RoutingError):
            return False
        return sum(1 for t in titles if t.strip().endswith("worker process")) <= 1
