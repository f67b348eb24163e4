"""Where a latency curve bends: the knee (Kneedle) and the highest load that still met the SLO (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_BEND = 0.1  # a curve closer than this to its chord (in normalised units) has no knee worth naming


def kneedle(xs: Sequence[float], ys: Sequence[float]) -> int | None:
    """Index of the knee of an increasing, convex curve such as p95 latency against offered load.

    Kneedle (Satopää et al., 2011): normalise both axes to [0, 1]; the knee is the point farthest
    below the chord from the first to the last point, i.e. where the curve stops being flat and starts
    to climb. None with fewer than three points, a flat curve, or no bend of at least MIN_BEND.
    """
    points = [(x, y) for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
    if len(points) < 3:
        return None
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    y_lo, y_hi = min(p[1] for p in points), max(p[1] for p in points)
    if x_hi == x_lo or y_hi == y_lo:
        return None
    best, best_gap = None, MIN_BEND
    for index, (x, y) in enumerate(zip(xs, ys)):
        if math.isnan(x) or math.isnan(y):
            continue
        gap = (x - x_lo) / (x_hi - x_lo) - (y - y_lo) / (y_hi - y_lo)
        if gap >= best_gap:
            best, best_gap = index, gap
    return best


def last_passing_before_break(passed: Sequence[bool]) -> int | None:
    """Index of the last step that met the SLO before the first one that did not (None: the first broke)."""
    last = None
    for index, ok in enumerate(passed):
        if not ok:
            break
        last = index
    return last
