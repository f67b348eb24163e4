"""The live terminal view of a run (rich): phase, weights, each version's traffic now, the last verdict.

Fed by the engine's structured events and the live sampler; when stdout is not a terminal (CI, pipes) the
CLI prints plain progress lines instead, as it always has.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"Successful": "green", "Failed": "bold red", "Inconclusive": "yellow", "Error": "red"}


def live_wanted() -> bool:
    """A live view only on a terminal: CI logs and pipes get plain lines."""
    return sys.stdout.isatty()


class LiveView:
    """A rich Live display; `log` prints a progress line above it, `event` updates it."""

    def __init__(self, title: str, console: Console | None = None) -> None:
        self.console = console or Console()
        self.title = title
        self._lock = threading.Lock()
        self.phase = "starting"
        self.label = ""
        self.hold: tuple[float, float] | None = None  # (since, seconds)
        self.weights: dict[str, int] = {}
        self.mirror: dict[str, Any] | None = None
        self.numbers: dict[str, dict[str, float | None]] = {}
        self.verdict: tuple[str, str] | None = None
        self.decision = ""
        self.outcome: str | None = None
        self._live = Live(console=self.console, refresh_per_second=4, get_renderable=self._render, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._live.__exit__(kind, exc, tb)

    def log(self, message: str) -> None:
        self._live.console.print(message, markup=False, highlight=False)

    def event(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            if kind == "routing_applied":
                self.weights = dict(data.get("weights", {}))
                self.mirror = (data.get("routing") or {}).get("mirror")
                self.phase = str(data.get("phase", self.phase))
            elif kind == "hold":
                self.label, self.phase = str(data["label"]), str(data["phase"])
                self.hold = (time.monotonic(), float(data["seconds"]))
            elif kind == "analysis":
                reasons = data.get("reasons") or []
                self.verdict = (str(data.get("verdict")), f"{data.get('label', '')}: " + ("; ".join(reasons) or "all checks held"))
            elif kind == "decision":
                self.decision = f"{data.get('label', '')} — {data.get('reason', '')}"
            elif kind in ("gate", "smoke"):
                passed = data.get("passed")
                self.verdict = ("Successful" if passed else "Failed",
                                f"{kind} {data.get('name', data.get('version', ''))}: {data.get('summary', '')}")
            elif kind == "run_finished":
                self.outcome = f"{str(data.get('outcome', '')).upper()} — {data.get('reason', '')}"
                self.hold = None
            elif kind == "live":
                self.numbers = data.get("versions", {})

    def _render(self) -> Panel:
        with self._lock:
            table = Table(expand=True, box=None, header_style="bold")
            for column in ("version", "weight", "req/s", "p95", "errors", "reward"):
                table.add_column(column, justify="left" if column == "version" else "right")
            versions = list(dict.fromkeys([*self.weights, *sorted(self.numbers)]))
            for version in versions:
                n = self.numbers.get(version, {})
                rps, failed = n.get("rps"), n.get("errors_per_s") or 0.0
                reward, labels = n.get("reward_per_s"), n.get("feedback_per_s")
                mirror = f" +{self.mirror['percent']}% mirrored" if self.mirror and self.mirror.get("version") == version else ""
                table.add_row(version, f"{self.weights.get(version, 0)}%{mirror}", _num(rps, "{:.1f}"),
                              _num(n.get("p95_ms"), "{:.1f} ms"),
                              "–" if not rps else f"{100 * failed / rps:.2f}%",
                              "–" if not labels or reward is None else f"{100 * reward / labels:.1f}%")
            parts: list[Any] = [Text(f"phase: {self.phase}   step: {self.label or '–'}", style="bold")]
            if self.hold is not None:
                since, seconds = self.hold
                elapsed = min(seconds, time.monotonic() - since)
                bar = Table.grid(expand=True)
                bar.add_column(ratio=1)
                bar.add_column(width=14, justify="right")
                bar.add_row(ProgressBar(total=seconds, completed=elapsed), f"{elapsed:4.0f}s / {seconds:.0f}s")
                parts.append(bar)
            parts.append(table)
            if self.verdict:
                verdict, text = self.verdict
                parts.append(Text(f"last verdict: {verdict} {text}".replace("  ", " "),
                                  style=VERDICT_STYLE.get(verdict, "")))
            if self.decision:
                parts.append(Text(f"next: {self.decision}"))
            if self.outcome:
                parts.append(Text(self.outcome, style="bold"))
            return Panel(Group(*parts), title=self.title, border_style="cyan")


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


@contextlib.contextmanager
def progress_view(title: str) -> Iterator[tuple[Callable[[str], None], Callable[[str, dict[str, Any]], None] | None]]:
    """(progress, on_event) for run_scenario: a live view on a terminal, plain lines (and no events) elsewhere."""
    from rolloutlab.cli.common import say

    if not live_wanted():
        yield say, None
        return
    with LiveView(title) as view:
        yield view.log, view.event
