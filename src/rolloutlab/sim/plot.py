"""The simulation's picture: regret curves (bandits) and the distribution of time to decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rolloutlab.sim.runner import RunResult


def plot_simulation(name: str, summary: dict[str, Any], results: list[RunResult], path: Path) -> Path:
    """Save a PNG (matplotlib's Agg backend: no display needed) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bandit = summary.get("bandit")
    fig, axes = plt.subplots(1, 2 if bandit else 1, figsize=(12 if bandit else 6, 4.5), squeeze=False)
    fig.suptitle(f"{name}: {summary['runs']} simulated runs", fontsize=10)
    times = axes[0][0]
    by_outcome: dict[str, list[float]] = {}
    for r in results:
        by_outcome.setdefault(r.outcome, []).append(r.elapsed_s)
    times.hist(list(by_outcome.values()), bins=30, stacked=True, label=list(by_outcome))
    times.set_xlabel("time to decision (s)")
    times.set_ylabel("runs")
    times.legend()
    if bandit:
        c = bandit["curves"]
        ax = axes[0][1]
        ax.fill_between(c["t"], c["bandit"][0.1], c["bandit"][0.9], alpha=0.3, label="bandit 10-90 %")
        ax.plot(c["t"], c["bandit"][0.5], label="bandit median")
        ax.plot(c["t"], c["equal_split"], "--", color="grey", label="equal split (A/B/n)")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("cumulative regret (rewards lost)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
