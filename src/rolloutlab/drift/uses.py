"""Which parts of a scenario need the drift monitor, by field path (for the target that runs it, or refuses)."""

from __future__ import annotations

from typing import Any

from rolloutlab.metrics.queries import DRIFT_METRICS


def drift_uses(scenario: Any) -> list[str]:
    """The scenario's fields that need the drift monitor, e.g. ["load.drift", "analysis.checks[2].metric"]."""
    uses = []
    if getattr(getattr(scenario, "load", None), "drift", None) is not None:
        uses.append("load.drift")
    uses += [f"analysis.checks[{i}].metric ({check.metric})"
             for i, check in enumerate(scenario.analysis.checks) if check.metric in DRIFT_METRICS]
    return uses
