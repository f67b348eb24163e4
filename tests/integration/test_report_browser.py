"""The HTML reports opened in headless Chromium: no console errors, nothing fetched, every panel drawn."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from rolloutlab.report.build import build_report
from rolloutlab.report.comparison import build_comparison
from tests.integration.chromium import Chromium, chromium_binary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
pytestmark = pytest.mark.skipif(chromium_binary() is None,
                                reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
FIGURES = "JSON.stringify([...document.querySelectorAll('figure')].map(f => {const r = f.querySelector('svg')" \
          ".getBoundingClientRect(); return {id: f.id, x: r.x, y: r.y + window.scrollY, width: r.width, height: r.height}}))"
EXTERNAL = "JSON.stringify([...document.querySelectorAll('[src],[href],link,script[src]')]" \
           ".map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => !/^(#|runs\\/|data:)/.test(u)))"


def drawn(png: bytes) -> tuple[float, float]:
    """Share of pixels that are not background, and share in colour (data: axes and text are black or grey)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = list(image.convert("RGB").get_flattened_data())
    ink = sum(1 for p in pixels if min(p) < 235)
    coloured = sum(1 for p in pixels if max(p) - min(p) > 60)
    return ink / len(pixels), coloured / len(pixels)


@pytest.fixture
def browser():
    chromium = Chromium()
    yield chromium
    chromium.close()


def test_run_report_opens_without_errors_and_every_panel_is_drawn(browser: Chromium, tmp_path: Path) -> None:
    run_dir = tmp_path / "bandit"
    shutil.copytree(FIXTURES / "older-bandit-thompson", run_dir)  # a panel-rich run: weights, rewards, P(best)
    canary = tmp_path / "canary"
    shutil.copytree(next((FIXTURES / "compare-bad-release" / "runs").glob("*-canary-slow")), canary)
    for folder, expected in ((run_dir, {"weights", "rewards", "p_best"}),
                             (canary, {"weights", "rps", "latency", "errors"})):
        report = build_report(folder).html
        browser.events.clear()
        browser.open(report)
        assert browser.console_errors() == []
        assert json.loads(browser.evaluate(EXTERNAL)) == []  # self-contained: nothing to fetch
        panels = json.loads(browser.evaluate(FIGURES))
        assert {p["id"].removeprefix("fig-") for p in panels} == expected
        for panel in panels:
            ink, coloured = drawn(browser.screenshot({k: panel[k] for k in ("x", "y", "width", "height")}))
            print(panel["id"], round(ink, 4), round(coloured, 4))
            assert panel["height"] > 300 and ink > 0.02 and coloured > 0.004, (panel, ink, coloured)
        height = browser.evaluate("document.documentElement.scrollHeight")
        (folder / "screenshot.png").write_bytes(browser.screenshot({"x": 0, "y": 0, "width": 1280, "height": height}))


def test_comparison_report_opens_without_errors(browser: Chromium, tmp_path: Path) -> None:
    folder = tmp_path / "comparison"
    shutil.copytree(FIXTURES / "compare-bad-release", folder)
    files = build_comparison(folder)
    for run in (folder / "runs").iterdir():
        build_report(run)  # the comparison links each run's own report
    browser.open(files.html)
    assert browser.console_errors() == []
    panels = json.loads(browser.evaluate(FIGURES))
    assert [p["id"] for p in panels] == ["fig-comparison", "fig-traffic"]
    for panel in panels:
        ink, coloured = drawn(browser.screenshot({k: panel[k] for k in ("x", "y", "width", "height")}))
        print(panel["id"], round(ink, 4), round(coloured, 4))
        assert ink > 0.02 and coloured > 0.004, (panel, ink, coloured)
    links = json.loads(browser.evaluate("JSON.stringify([...document.querySelectorAll('a')].map(a => a.href))"))
    assert len(links) == 3 and all(Path(link.removeprefix("file://")).is_file() for link in links)


def test_the_console_check_catches_an_error(browser: Chromium, tmp_path: Path) -> None:
    """The check above can fail: a page with a script error and a missing image is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>console.error("boom"); notDefined();</script><img src="gone.png"></body></html>')
    browser.open(page)
    errors = browser.console_errors()
    assert any("boom" in e for e in errors) and any("exception" in e for e in errors)
    assert any("gone.png" in e for e in errors)
