from __future__ import annotations

import dataclasses
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from rolloutlab.errors import PortBusy
from rolloutlab.targets.processes import free_port, is_alive, require_free, spawn, stop, stop_together


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    code = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    record = spawn("parent", [sys.executable, "-c", code], tmp_path / "p.log")
    deadline = psutil.Process(record.pid)
    for _ in range(50):
        if deadline.children():
            break
        time.sleep(0.05)
    child = deadline.children()[0]
    stop(record, timeout=5)
    assert not is_alive(record)
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    record = spawn("sleeper", ["sleep", "30"], tmp_path / "s.log")
    impostor = dataclasses.replace(record, create_time=record.create_time - 1000)  # as if the PID were reused
    assert not is_alive(impostor)
    stop(impostor, timeout=1)
    assert is_alive(record)
    stop(record, timeout=5)
    assert not is_alive(record)


def test_busy_port_is_reported_with_its_role() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortBusy, match=f"port {port} on 127.0.0.1 is already in use; the router"):
            require_free(port, "router")


def test_free_ports_stay_out_of_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert not [p for p in ports if low <= p <= high], "a listening port an outgoing connection could take first"


def test_a_listened_port_is_not_picked() -> None:
    listeners = []
    try:
        for _ in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            listeners.append(sock)
        held = {s.getsockname()[1] for s in listeners}
        assert not held & {free_port() for _ in range(200)}
    finally:
        for sock in listeners:
            sock.close()


def test_stop_together_signals_every_process_before_waiting_for_any(tmp_path: Path) -> None:
    # Each process, on SIGTERM, waits (up to 10 s) until all three were told to stop, and notes what it saw:
    # stopped one after another, the first would never see the others' notes.
    code = """
import pathlib, signal, sys, time
me, folder = sys.argv[1], pathlib.Path(sys.argv[2])
def term(*_):
    (folder / f"got-{me}").touch()
    deadline = time.monotonic() + 10
    while len(list(folder.glob("got-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    (folder / f"saw-{me}").write_text(str(len(list(folder.glob("got-*")))))
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
(folder / f"ready-{me}").touch()
time.sleep(60)
"""
    records = [spawn(name, [sys.executable, "-c", code, name, str(tmp_path)], tmp_path / f"{name}.log")
               for name in ("a", "b", "c")]
    for name in ("a", "b", "c"):
        for _ in range(200):
            if (tmp_path / f"ready-{name}").exists():
                break
            time.sleep(0.025)
    stop_together(records, timeout=20)
    assert not [r for r in records if is_alive(r)]
    assert {name: (tmp_path / f"saw-{name}").read_text() for name in ("a", "b", "c")} == {"a": "3", "b": "3", "c": "3"}
