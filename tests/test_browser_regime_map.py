"""The regime map tab of the served dashboard in headless Chromium: a map drawn
cell by cell through the server's Dask LocalCluster, a click that loads a cell's
rates into the model, the layer choice, and Cancel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402

pytestmark = pytest.mark.ui

browser.require_for_tests()
pytest.importorskip("distributed")

# The map's cells (Quad glyphs: left/right/bottom/top and one value column) and
# the marker (Scatter) of the current rates; with the screen position of a point.
JS_MAP = """
(point) => {
  for (const v of Bokeh.index.all_views()) {
    if (!v.frame || !v.model.renderers) continue;
    const quads = v.model.renderers.filter((r) => r.glyph && r.glyph.type === 'Quad');
    if (!quads.length) continue;
    const d = quads[0].data_source.data;
    const skip = ['left', 'right', 'bottom', 'top', 'birth', 'death', 'predation'];
    const key = Object.keys(d).find((k) => !skip.includes(k));
    const vals = Array.from(d[key]);
    const dots = v.model.renderers.filter(
      (r) => r.glyph && r.glyph.type === 'Scatter')[0].data_source.data;
    const xk = Object.keys(dots).filter((k) => Array.isArray(dots[k]) ||
      ArrayBuffer.isView(dots[k]));
    const out = {key: key, n: vals.length,
                 finite: vals.filter((x) => Number.isFinite(x)).length,
                 marker: xk.map((k) => [k, Array.from(dots[k])])};
    if (point) {
      // on screen first (a user scrolls to the cell): the settings beside the
      // map are taller than the viewport
      const el = (v.canvas_view || v.canvas).el;
      el.scrollIntoView({block: 'center'});
      const r = el.getBoundingClientRect();
      out.sx = r.left + v.frame.x_scale.compute(point[0]);
      out.sy = r.top + v.frame.y_scale.compute(point[1]);
    }
    return out;
  }
  return null;
}
"""


def set_input(page, label: str, value) -> None:
    group = page.locator(".bk-input-group", has=page.get_by_text(label, exact=True))
    inp = group.locator("input").first
    inp.fill(str(value))
    inp.press("Enter")


@pytest.fixture(scope="module")
def page():
    with browser.serve() as srv, browser.chromium() as ctx:
        pg = ctx.new_page()
        pg.errors = browser.watch_console(pg)
        pg.goto(srv.url)
        browser.wait_idle(pg)
        browser.button(pg, "Simulate").wait_for(timeout=60000)
        yield pg
        pg.close()


def test_regime_map_draws_loads_and_cancels(page):
    set_input(page, "Steps", 60)  # the model: 60 steps, the paper's rates
    page.locator(".bk-tab", has_text="Regime map").click()
    set_input(page, "x cells", 3)
    set_input(page, "y cells", 2)
    set_input(page, "Replicates per cell", 10)
    page.wait_for_timeout(500)  # let the values reach the server
    browser.button(page, "Run map").click()
    page.get_by_text("Map done: 6 cells").wait_for(timeout=240000)
    page.wait_for_timeout(500)
    m = page.evaluate(JS_MAP, None)
    assert m["n"] == 6 and m["finite"] == 6 and "Predators" in m["key"]
    marker = dict(m["marker"])
    assert marker["birth"] == [0.025] and marker["death"] == [0.06]

    # a click on the cell (birth 0.03, death 0.12) loads its rates into the model
    m = page.evaluate(JS_MAP, [0.03, 0.12])
    page.mouse.click(m["sx"], m["sy"])
    page.get_by_text("Loaded birth = 0.03, death = 0.12").wait_for(timeout=20000)
    _wait_for_slider(page, "Birth rate (0 -> X):", 0.03)
    _wait_for_slider(page, "Death rate (Y -> 0):", 0.12)
    page.wait_for_timeout(500)
    marker = dict(page.evaluate(JS_MAP, None)["marker"])
    assert marker["birth"] == [0.03] and marker["death"] == [0.12]

    # another layer, from the same results
    page.locator("select").filter(has_text="Oscillation period of Y").select_option(
        "Oscillation period of Y"
    )
    page.wait_for_function(
        "(js) => { const m = eval(js)(null); return m && m.key.includes('period'); }",
        arg=JS_MAP,
        timeout=20000,
    )

    # a big map: Cancel stops it
    set_input(page, "x cells", 20)
    set_input(page, "y cells", 20)
    set_input(page, "Replicates per cell", 200)
    page.wait_for_timeout(500)
    browser.button(page, "Run map").click()
    page.get_by_text("/ 400 cells").wait_for(timeout=120000)
    browser.button(page, "Cancel").click()
    page.get_by_text("Cancelled after").wait_for(timeout=30000)
    assert page.errors == []
    assert browser.external_urls(page) == []


def _slider_value(page, label: str) -> float:
    """The number box of the editable slider labelled ``label``: the innermost
    element holding both the label and an input (ancestors come first)."""
    row = (
        page.locator("div", has=page.get_by_text(label, exact=True))
        .filter(has=page.locator("input"))
        .last
    )
    return float(row.locator("input").first.input_value())


def _wait_for_slider(page, label: str, value: float, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        got = _slider_value(page, label)
        if abs(got - value) < 1e-12:
            return
        assert time.monotonic() < deadline, f"{label} shows {got}, expected {value}"
        page.wait_for_timeout(100)
