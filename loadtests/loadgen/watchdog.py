"""Keep a Locust process from outliving its run: a hard run-time bound and a watch on the parent."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

KILL_GRACE_SECONDS = 15  # after the graceful quit, SIGALRM ends the process even if its loop is stuck
STOP_GRACE_SECONDS = 10  # a stop that has not ended the process by then (e.g. a master still waiting
                         # for workers that are gone) ends it with os._exit

log = logging.getLogger("rolloutlab.watchdog")


def stop_reason(elapsed: float, run_time: float | None, parent_pid: int | None, current_parent: int) -> str | None:
    """Why the process must stop now, or None (pure, for tests)."""
    if run_time is not None and elapsed >= run_time:
        return f"run-time bound of {run_time:g}s reached"
    if parent_pid is not None and current_parent != parent_pid:
        return f"parent process {parent_pid} is gone"
    return None


def install(stop: Callable[[], None], run_time: float | None, parent_pid: int | None, handle_sigterm: bool) -> None:
    """Call stop() at the bound or when the parent dies; SIGALRM backs the bound up with the kernel's help.

    handle_sigterm: also call stop() on SIGTERM. A headless run with a shape needs it: Locust installs
    its own SIGTERM handler only after the shape has finished, so until then SIGTERM would kill the
    process before it writes its CSV files. (Workers have Locust's handler from the start.)
    """
    import gevent  # a Locust process: the watch runs as a greenlet beside the users

    def stop_for_sure() -> None:
        stop()
        gevent.spawn_later(STOP_GRACE_SECONDS, _force_exit)

    if run_time is not None:
        # SIGALRM's default action terminates the process: the bound holds even if the loop is wedged.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(run_time) + KILL_GRACE_SECONDS)
    if handle_sigterm:
        gevent.signal_handler(signal.SIGTERM, stop_for_sure)
    if run_time is None and parent_pid is None:
        return
    started = time.monotonic()

    def watch() -> None:
        while True:
            gevent.sleep(0.5)
            reason = stop_reason(time.monotonic() - started, run_time, parent_pid, os.getppid())
            if reason:
                log.warning("stopping the load test: %s", reason)
                stop_for_sure()
                return

    gevent.spawn(watch)


def _force_exit() -> None:
    log.error("the load test did not stop within %ss of being asked to; exiting now", STOP_GRACE_SECONDS)
    logging.shutdown()
    os._exit(3)


class SwarmGuard:
    """The bound of one test started through the web API: its own run time and the CLI's heartbeat.

    A master in a pod outlives the CLI that started its test; when that CLI is killed, or its
    port-forward drops, nobody would ever POST /stop. So each test carries its bound and, while it
    runs, expects a heartbeat; past either, the master stops the test (and its workers' users) itself.
    Pure apart from the clock, so tests drive it with a fake one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.armed = False
        self.swarm_time: float | None = None
        self.heartbeat_timeout: float | None = None
        self.started = self.last_beat = clock()

    def arm(self, swarm_time: float | None, heartbeat_timeout: float | None) -> None:
        """A test starts now, bounded by swarm_time and heartbeat_timeout (None: no such bound)."""
        self.swarm_time, self.heartbeat_timeout = swarm_time, heartbeat_timeout
        self.started = self.last_beat = self._clock()  # the start itself counts as a heartbeat
        self.armed = True

    def disarm(self) -> None:
        self.armed = False

    def beat(self) -> None:
        self.last_beat = self._clock()

    def reason(self) -> str | None:
        """Why the running test must stop now, or None."""
        if not self.armed:
            return None
        now = self._clock()
        if self.swarm_time is not None and now - self.started >= self.swarm_time:
            return f"the test's bound of {self.swarm_time:g}s is reached"
        if self.heartbeat_timeout is not None and now - self.last_beat >= self.heartbeat_timeout:
            return f"no heartbeat for {now - self.last_beat:.0f}s (timeout {self.heartbeat_timeout:g}s)"
        return None

    def status(self) -> dict[str, object]:
        now = self._clock()
        return {"armed": self.armed, "running_for": round(now - self.started, 3) if self.armed else None,
                "since_heartbeat": round(now - self.last_beat, 3), "swarm_time": self.swarm_time,
                "heartbeat_timeout": self.heartbeat_timeout}


def guard_swarms(guard: SwarmGuard, stop: Callable[[], None], period: float = 0.5) -> None:
    """Check guard every period seconds in a greenlet; stop() (and disarm) once it gives a reason."""
    import gevent

    def watch() -> None:
        while True:
            gevent.sleep(period)
            reason = guard.reason()
            if reason:
                log.warning("stopping the load test: %s", reason)
                guard.disarm()
                stop()

    gevent.spawn(watch)
