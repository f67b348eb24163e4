"""The stress test's picture: p95 and throughput against offered load, with the SLO, limit and knee."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rolloutlab.load.stress import StressResult


def plot_stress(result: StressResult, path: Path) -> Path:
    """Save a two-panel PNG (matplotlib's Agg backend: no display needed) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s in result.steps if s.judged]
    offered = [s.offered_rps for s in steps]
    fig, (latency, throughput) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    fig.suptitle(f"stress {result.version}: {result.stopped_because}", fontsize=10)

    latency.plot(offered, [s.p95_ms for s in steps], "o-", label="p95")
    latency.plot(offered, [s.p50_ms for s in steps], ".--", color="grey", label="p50")
    latency.axhline(result.plan.max_p95_ms, color="red", linestyle=":", label=f"SLO p95 {result.plan.max_p95_ms:g} ms")
    for s in steps:
        if not s.ok:
            latency.plot([s.offered_rps], [s.p95_ms], "x", color="red", markersize=12)
    latency.set_ylabel("latency (ms)")

    throughput.plot(offered, [s.achieved_rps for s in steps], "o-", label="achieved")
    if offered:
        top = max(offered)
        throughput.plot([0, top], [0, top], ":", color="grey", label="offered (ideal)")
    throughput.set_xlabel("offered load (req/s)")
    throughput.set_ylabel("throughput (req/s)")

    for step, colour, label in ((result.sustainable, "green", "highest sustainable"), (result.knee, "orange", "knee")):
        if step is not None and not math.isnan(step.p95_ms):
            for axis in (latency, throughput):
                axis.axvline(step.offered_rps, color=colour, alpha=0.6,
                             label=f"{label} ({step.achieved_rps:.0f} req/s)" if axis is latency else None)
    latency.legend(fontsize=8)
    throughput.legend(fontsize=8)
    latency.grid(alpha=0.3)
    throughput.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
