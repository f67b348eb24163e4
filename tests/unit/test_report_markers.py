"""Every vertical marker in a report figure is explained in the figure itself, not only in its caption."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import pytest

from rolloutlab.report.figures import _decisions
from rolloutlab.report.rundir import load_run

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "compare-bad-release" / "runs"
RECORDED = sorted(p.name for p in RUNS.iterdir())


@contextmanager
def marked(run: str, label: bool) -> Iterator[plt.Axes]:
    """An axis with the recorded run's decision markers drawn on it."""
    fig, axis = plt.subplots()
    try:
        _decisions(load_run(RUNS / run), axis, label=label)
        yield axis
    finally:
        plt.close(fig)


def vertical_lines(axis: plt.Axes) -> list:
    return [line for line in axis.get_lines() if len(set(line.get_xdata())) == 1]


@pytest.mark.parametrize("run", RECORDED)
def test_every_marker_has_a_legend_entry_of_its_kind_where_there_is_no_text(run: str) -> None:
    with marked(run, label=False) as axis:
        lines = vertical_lines(axis)
        assert lines, "the recorded run has decisions to mark"
        explained = {(line.get_color(), line.get_label()) for line in lines if not line.get_label().startswith("_")}
        for line in lines:  # each line's colour has a legend entry: a decision, a gate or a switch of its kind
            assert any(colour == line.get_color() for colour, _ in explained), line.get_color()
        _, labels = axis.get_legend_handles_labels()
        assert len(labels) == len(set(labels)), "each kind of line once in the legend"


@pytest.mark.parametrize("run", RECORDED)
def test_every_marker_on_the_traffic_panel_is_labelled_beside_it(run: str) -> None:
    with marked(run, label=True) as axis:
        texts = [t.get_text().strip() for t in axis.texts]
        assert len(texts) == len(vertical_lines(axis)) and all(texts), texts
