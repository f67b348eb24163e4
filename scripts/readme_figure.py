"""Regenerate the README's picture from a recorded run directory, so it always shows what the code draws.

    .venv/bin/python scripts/readme_figure.py          # rewrite docs/images/canary-slow-latency.png
    .venv/bin/python scripts/readme_figure.py --check  # exit 1 if the committed picture is out of date

The run is a real one (canary-slow, recorded by the compare-bad-release comparison in tests/fixtures);
rendering is deterministic, so the same code gives the same bytes and tests/unit/test_docs.py checks it.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RUN_DIR = PROJECT / "tests/fixtures/reports/compare-bad-release/runs/20261202-002624-canary-slow"
FIGURE = "latency"
PICTURE = PROJECT / "docs/images/canary-slow-latency.png"


def render() -> bytes:
    """The PNG bytes of the run's figure, drawn from the run directory alone (nothing written there)."""
    from rolloutlab.report.figures import render_figures
    from rolloutlab.report.impact import impact
    from rolloutlab.report.rundir import load_run

    data = load_run(RUN_DIR)
    figures = {f.name: f for f in render_figures(data, impact(data))}
    return figures[FIGURE].png


def main(argv: list[str]) -> int:
    png = render()
    if "--check" in argv:
        if not PICTURE.is_file() or PICTURE.read_bytes() != png:
            print(f"{PICTURE.relative_to(PROJECT)} is out of date: run scripts/readme_figure.py", file=sys.stderr)
            return 1
        return 0
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    PICTURE.write_bytes(png)
    print(f"wrote {PICTURE.relative_to(PROJECT)} ({len(png)} bytes) from {RUN_DIR.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
