"""Start, identify and stop the lab's processes by PID, safely across CLI crashes and PID reuse."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from rolloutlab.errors import NotReady, PortBusy


@dataclass(frozen=True)
class ProcessRecord:
    """A process the lab started: its PID is its process group, create_time guards against PID reuse."""

    name: str
    pid: int
    create_time: float
    log: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Listening ports come from below the kernel's ephemeral range (32768-60999 on Linux by default): a port the
# kernel hands out for bind(0) is one it may next give to any outgoing connection, and a BentoML server binds
# its port only seconds after the pick (its imports come first), so a scrape or a client could hold it by then
# ("Address already in use" in CI). Below the range only other listeners compete, and those this process
# picked are never handed out twice.
_LISTEN_PORTS = range(20000, 32768)
_handed_out: set[int] = set()
_pick = random.Random()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and no outgoing connection will take."""
    for _ in range(200):
        port = _pick.choice(_LISTEN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the range is crowded: let the kernel pick
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_free(port: int, role: str) -> None:
    """Raise PortBusy naming the role if something already holds 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortBusy(f"port {port} on 127.0.0.1 is already in use; the {role} cannot listen there") from exc


def spawn(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> ProcessRecord:
    """Start argv in a new session (its own process group) with output to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        create_time = 0.0
    return ProcessRecord(name, proc.pid, create_time, str(log))


def _same_process(record: ProcessRecord) -> psutil.Process | None:
    try:
        process = psutil.Process(record.pid)
        if abs(process.create_time() - record.create_time) > 0.05:
            return None  # the PID was reused by an unrelated process
        if process.status() == psutil.STATUS_ZOMBIE:
            _reap(record.pid)
            return None
        return process
    except psutil.NoSuchProcess:
        return None


def is_alive(record: ProcessRecord) -> bool:
    return _same_process(record) is not None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_members(record: ProcessRecord) -> list[psutil.Process]:
    """Processes still in the record's group that started no earlier than it (its own children).

    While the leader lives its PID stays its own; once the leader is gone the kernel does not hand out
    a PID that is still some group's ID, so a live group with that ID is still ours.
    """
    try:
        if abs(psutil.Process(record.pid).create_time() - record.create_time) > 0.05:
            return []  # the PID now belongs to an unrelated process: our group is gone
    except psutil.NoSuchProcess:
        pass
    members = []
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(process.pid) == record.pid and process.info["create_time"] >= record.create_time - 0.05:
                members.append(process)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return members


def _with_descendants(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes and all their descendants, once each.

    BentoML's arbiter starts each worker in a session of its own, so signalling the arbiter's group
    alone would leave workers running after their arbiter is gone.
    """
    found = {p.pid: p for p in processes}
    for process in processes:
        try:
            for child in process.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def descendants(record: ProcessRecord) -> list[ProcessRecord]:
    """Records for the live descendants of a process the lab started (e.g. BentoML workers)."""
    process = _same_process(record)
    if process is None:
        return []
    records = []
    try:
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for index, child in enumerate(children):
        try:
            records.append(ProcessRecord(f"{record.name} child {index + 1}", child.pid, child.create_time(), record.log))
        except psutil.NoSuchProcess:
            continue
    return records


def stop(record: ProcessRecord, timeout: float = 10.0) -> None:
    """Stop the process, its group and its descendants: SIGTERM, then SIGKILL after timeout.

    Never signals a reused PID.
    """
    stop_together([record], timeout)


def stop_together(records: list[ProcessRecord], timeout: float = 10.0) -> None:
    """Stop several processes (each with its group and descendants) at once: one SIGTERM to all, one wait.

    A BentoML server takes about 2 s to shut down; a lab of eight versions stopped one by one took 16 s."""
    members = list({p.pid: p for record in records for p in _with_descendants(_group_members(record))}.values())
    for process in members:
        _signal(process, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=timeout)
    for process in _with_descendants(alive):
        _signal(process, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)
    for record in records:
        _reap(record.pid)


def _signal(process: psutil.Process, sig: signal.Signals) -> None:
    try:
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        pass


def log_tail(path: str | Path, lines: int = 12) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError):
        return False


def wait_until_ready(
    checks: dict[str, tuple[ProcessRecord, str]],
    timeout: float,
    on_ready: Callable[[str, float], None] | None = None,
) -> None:
    """Poll each name's readiness URL until all answer 2xx; fail fast if a process dies, NotReady on timeout."""
    started = time.monotonic()
    pending = dict(checks)
    while pending:
        for name, (record, url) in list(pending.items()):
            if http_ok(url, timeout=0.5):
                del pending[name]
                if on_ready:
                    on_ready(name, time.monotonic() - started)
            elif not is_alive(record):
                raise NotReady(f"{name} exited before becoming ready; last lines of {record.log}:\n{log_tail(record.log)}")
        if pending and time.monotonic() - started > timeout:
            names = ", ".join(pending)
            logs = "\n".join(f"  {n}: {pending[n][0].log}" for n in pending)
            raise NotReady(f"{names} not ready after {timeout:.0f}s (raise --ready-timeout if the machine is slow); logs:\n{logs}")
        if pending:
            time.sleep(0.2)
