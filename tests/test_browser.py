"""The served dashboard in headless Chromium (``panel serve apps/dashboard.py``).

Needs Debian's Chromium (``bash scripts/install-browser.sh``) and the ``playwright``
Python package; never downloads Playwright's own browsers. Skipped with a message when
either is missing. Server-side effects (a closed tab stops its job) are read from the
server log, where ``dbdviz.ui`` writes one line per job start/end and session end.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402

pytestmark = pytest.mark.ui

browser.require_for_tests()

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


# Data of the learned curve of the moments plot (legend item "DBD learned").
JS_LEARNED = """
() => {
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'Legend')
        for (const it of m.items) {
          const l = it.label;
          const s = l && typeof l === 'object' && 'value' in l ? l.value : String(l);
          // the figure holds an empty, hidden learned curve until there is one
          if (s !== 'DBD learned' || !it.renderers.length || it.visible === false)
            continue;
          const d = it.renderers[0].data_source.data;
          const y = Object.keys(d).find((k) => k !== 't');
          if (!d['t'] || !d['t'].length) continue;
          return {t: Array.from(d['t']), y: Array.from(d[y])};
        }
  return null;
}
"""

# Data of the theta(t) plot (the ColumnDataSource named "theta": x, one column per
# parameter).
JS_THETA = """
() => {
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'ColumnDataSource' && m.name === 'theta' &&
          m.data.x && m.data.x.length) {
        const out = {};
        for (const k of Object.keys(m.data)) out[k] = Array.from(m.data[k]);
        return out;
      }
  return null;
}
"""

JS_LEGENDS = """
() => {
  const out = [];
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'Legend')
        for (const it of m.items) {
          if (it.visible === false) continue;  // hidden entries are not shown
          const l = it.label;
          out.push(l && typeof l === 'object' && 'value' in l ? l.value : String(l));
        }
  return out;
}
"""

# Visible buttons (and Bokeh tool buttons) with neither text nor a title.
JS_UNTITLED_BUTTONS = """
() => {
  const out = [];
  const f = (r) => {
    for (const e of r.querySelectorAll('*')) {
      if (e.shadowRoot) f(e.shadowRoot);
      const cl = e.classList;
      if (!(e.tagName === 'BUTTON' || e.getAttribute('role') === 'button' ||
            (cl && cl.contains('bk-tool')))) continue;
      const b = e.getBoundingClientRect();
      if (!b.width || !b.height || (e.textContent || '').trim()) continue;
      if (!e.title && !e.getAttribute('aria-label'))
        out.push(e.outerHTML.slice(0, 80));
    }
  };
  f(document);
  return out;
}
"""

JS_CURVE_LENGTHS = """
() => {
  const out = [];
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'GlyphRenderer' && m.glyph && m.glyph.type === 'Line') {
        const d = m.data_source.data;
        const k = Object.keys(d);
        out.push(k.length ? d[k[0]].length : 0);
      }
  return out;
}
"""


@pytest.fixture(scope="module")
def server():
    with browser.serve() as srv:
        yield srv


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as ctx:
        yield ctx


def open_dashboard(ctx, server):
    page = ctx.new_page()
    errors = browser.watch_console(page)
    page.goto(server.url)
    browser.wait_idle(page)
    browser.button(page, "Simulate").wait_for(timeout=30000)
    return page, errors


def legends(page) -> list[str]:
    return page.evaluate(JS_LEGENDS)


# Plots whose legend (with items) sits inside the data area (Bokeh's ``center``),
# and the number of legends with items placed beside a plot.
JS_LEGENDS_INSIDE = """
() => { const out = [];
  for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (Array.isArray(m.center)) for (const c of m.center)
      if (c.type === 'Legend' && c.items.length)
        out.push(m.title && m.title.text ? m.title.text : m.id);
  return out; }
"""
JS_LEGENDS_BESIDE = """
() => { let n = 0;
  for (const d of Bokeh.documents) for (const m of d._all_models.values())
    for (const side of ['left', 'right', 'above', 'below'])
      if (Array.isArray(m[side])) for (const c of m[side])
        if (c.type === 'Legend' && c.items.length) n += 1;
  return n; }
"""


def wait_for_legend(page, text: str, timeout: float = 60000) -> None:
    page.wait_for_function(
        "(t) => { for (const d of Bokeh.documents)"
        " for (const m of d._all_models.values())"
        " if (m.type === 'Legend') for (const it of m.items) {"
        " const l = it.label; const s = l && typeof l === 'object' && 'value' in l ?"
        " l.value : String(l); if (s.includes(t)) return true; } return false; }",
        arg=text,
        timeout=timeout,
    )


def set_spinner(page, label: str, value: int) -> None:
    group = page.locator(".bk-input-group", has=page.get_by_text(label, exact=True))
    inp = group.locator("input").first
    inp.fill(str(value))
    inp.press("Enter")


def start_long_simulation(page) -> None:
    """Minutes of work (widget limits: 2000 x 2000), so Stop or closing must end it."""
    page.locator("select").first.select_option("large")  # 100 x 100 lattice
    page.get_by_text("Advanced", exact=True).click()
    page.locator("input[type=checkbox]").first.uncheck()  # Keep snapshots: off
    set_spinner(page, "Replicates", 2000)
    set_spinner(page, "Steps", 2000)
    page.wait_for_timeout(500)  # let the values reach the server
    browser.button(page, "Simulate").click()
    page.get_by_text(
        "Simulating 2000 replicate(s) of 2000 steps on 100 x 100"
    ).wait_for(timeout=10000)


def test_simulate_draws_the_moment_plot(server, chromium):
    page, errors = open_dashboard(chromium, server)
    assert page.title() == "dbdviz"
    assert not any("simulation mean" in s for s in legends(page))
    browser.button(page, "Simulate").click()
    wait_for_legend(page, "simulation mean (n=100)")
    page.get_by_text("Done in").wait_for(timeout=60000)
    page.wait_for_timeout(1000)
    # the paper preset: t = 0 ... 500, one point per time
    assert 501 in page.evaluate(JS_CURVE_LENGTHS)
    labels = legends(page)
    assert "simulation 95% CI" in labels
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []
    assert browser.external_urls(page) == []
    page.close()


def test_a_page_whose_session_expired_loads_offline(server, chromium):
    """The browser connects after the page's session expired: still no CDN URL.

    Bokeh destroys a session nobody connected to within --unused-session-lifetime
    (1 s here) and builds a new one when the websocket connects; Panel rewrites
    stylesheet URLs to this server only for the session whose HTML page it
    rendered. Holding back bokeh.min.js for 3 s makes that happen every time (a
    server busy with another tab's training did it by chance).
    """
    page = chromium.new_page()
    errors = browser.watch_console(page)
    page.route(
        "**/static/js/bokeh.min.js*",
        lambda route: (time.sleep(3.0), route.continue_()),
    )
    n_created = server.log().count("dbdviz session created")
    page.goto(server.url)
    browser.wait_idle(page)
    browser.button(page, "Simulate").wait_for(timeout=30000)
    page.wait_for_timeout(500)
    # the page's session and the one built for the websocket
    assert server.log().count("dbdviz session created") == n_created + 2
    assert browser.external_urls(page) == []
    assert errors == []
    page.close()


# The figure is rendered by the server when the button is pressed (seconds on a quiet
# machine, over 30 s, Playwright's default, once at load 4-5 on 2 cores).
DOWNLOAD_TIMEOUT_MS = 120_000


def test_exporting_the_figure_keeps_the_page_offline(server, chromium):
    """Saving the figure (Panel's save inside the session) must not switch the
    session's own stylesheets to the CDN, nor those of a page opened after it."""
    page, errors = open_dashboard(chromium, server)
    page.locator(".bk-tab", has_text="Export").click()
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download:
        page.get_by_text("Download figure (HTML)").click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "<html" in html.lower() and "Bokeh" in html
    page.wait_for_timeout(500)
    other, errors_other = open_dashboard(chromium, server)
    assert browser.external_urls(page) == [] and browser.external_urls(other) == []
    assert errors == [] and errors_other == []
    page.close()
    other.close()


def simulate_small(page, replicates: int = 20, steps: int = 60) -> None:
    """A quick ensemble with snapshots (paper model, fewer replicates and steps)."""
    set_spinner(page, "Replicates", replicates)
    set_spinner(page, "Steps", steps)
    page.wait_for_timeout(300)  # let the values reach the server
    browser.button(page, "Simulate").click()
    page.get_by_text("Done in").wait_for(timeout=60000)


def start_training(page, opt_steps: int = 5000, wait: bool = True) -> None:
    """Open the Training tab and train (more steps than the test waits for).

    ``wait``: until the first step shows; otherwise return right after the click.
    """
    page.locator(".bk-tab", has_text="Training").click()
    set_spinner(page, "Optimisation steps", opt_steps)
    page.wait_for_timeout(300)
    browser.button(page, "Train").click()
    if wait:
        page.get_by_text("Training: step").first.wait_for(timeout=60000)


def wait_for_change(page, js: str, before, timeout: float = 30.0):
    """Poll ``js`` until its value differs from ``before``; return the new value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = page.evaluate(js)
        if now and now != before:
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"no change of {js[:60]!r} within {timeout} s")


def test_training_updates_the_learned_curves_live(server, chromium):
    page, errors = open_dashboard(chromium, server)
    simulate_small(page)
    n_cancelled = server.log().count("dbdviz job train cancelled")
    start_training(page, wait=False)
    # A second tab opened while the first starts training (the busiest moment of the
    # server): its page used to load Panel's stylesheets from the CDN (offline:
    # console errors, unstyled widgets) when its session expired before the
    # browser connected (see test_a_page_whose_session_expired_loads_offline).
    other, errors_other = open_dashboard(chromium, server)
    assert browser.external_urls(other) == []
    page.get_by_text("Training: step").first.wait_for(timeout=60000)
    # the Training tab: theta(t) and the errors draw and keep changing
    theta1 = wait_for_change(page, JS_THETA, None)
    theta2 = wait_for_change(page, JS_THETA, theta1)
    assert len(theta2["x"]) >= len(theta1["x"]) and "hX" in theta2
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1300})  # plots below the fold
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "dashboard_training.png"))
    # the Moments tab: the learned curve appears and its data change while it trains
    page.locator(".bk-tab", has_text="Moments").click()
    wait_for_legend(page, "DBD learned", timeout=60000)
    learned1 = wait_for_change(page, JS_LEARNED, None)
    learned2 = wait_for_change(page, JS_LEARNED, learned1)
    assert learned1["t"][0] == 0 and learned2["t"][-1] >= learned1["t"][-1]
    assert learned2["y"] != learned1["y"]
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard_training_moments.png"))
    # the second tab has its own state: no data, no training
    assert not any("DBD learned" in s for s in legends(other))
    assert page.evaluate(JS_THETA) is not None and other.evaluate(JS_THETA) is None
    assert other.get_by_text("Ready: press").is_visible()
    assert page.evaluate(JS_LEARNED) is not None  # the first tab still trains
    assert browser.external_urls(other) == [] and browser.external_urls(page) == []
    other.close()
    # Stop stops it and keeps the model
    page.locator(".bk-tab", has_text="Training").click()
    page.locator("button:enabled", has_text="Stop").last.click()
    page.get_by_text("Training stopped").wait_for(timeout=10000)
    assert server.wait_for_log(
        "dbdviz job train cancelled", timeout=10, count=n_cancelled + 1
    )
    frozen = page.evaluate(JS_THETA)
    page.wait_for_timeout(1500)
    assert page.evaluate(JS_THETA) == frozen
    assert errors == [] and errors_other == []
    page.close()


def test_training_refines_live_and_stop_keeps_the_adjoint_model(server, chromium):
    """Depth 0: after its adjoint steps the training refines the closure live (the
    status names the phase, theta(t) and the learned curve follow the refining
    path); Stop during the refinement keeps the adjoint-trained model."""
    page, errors = open_dashboard(chromium, server)
    simulate_small(page, replicates=10, steps=30)
    page.locator(".bk-tab", has_text="Training").click()
    page.get_by_text("Advanced training settings").click()
    set_spinner(page, "Refinement iterations", 5000)  # far longer than the test
    # 10 adjoint steps: horizon 14, the refinement fits t = 0, 5, 10, 14
    start_training(page, opt_steps=10, wait=False)
    # the refinement's own status ("Refining the closure: 1 / 5000"; the adjoint
    # steps' status ends "..., then refining the closure (5000 steps)": a
    # case-insensitive match of that read adjoint frames under load)
    page.get_by_text(re.compile(r"^Refining the closure: \d+")).first.wait_for(
        timeout=60000
    )
    # (the first frame read may still be an adjoint step's: the status comes first)
    theta = [wait_for_change(page, JS_THETA, None)]
    for _ in range(2):
        theta.append(wait_for_change(page, JS_THETA, theta[-1]))
    assert theta[-1]["x"] == theta[-2]["x"] == list(range(15))  # the whole path
    assert theta[-1]["hX"] != theta[-2]["hX"]
    page.locator(".bk-tab", has_text="Moments").click()
    wait_for_legend(page, "DBD learned", timeout=60000)
    learned = [wait_for_change(page, JS_LEARNED, None)]
    for _ in range(2):
        learned.append(wait_for_change(page, JS_LEARNED, learned[-1]))
    assert learned[-1]["t"] == learned[-2]["t"] == [0, 5, 10, 14]
    assert learned[-1]["y"] != learned[-2]["y"]
    page.locator(".bk-tab", has_text="Training").click()
    page.locator("button:enabled", has_text="Stop").last.click()
    page.get_by_text("the refinement was stopped").wait_for(timeout=10000)
    assert errors == []
    page.close()


def test_stop_stops_the_simulation(server, chromium):
    page, errors = open_dashboard(chromium, server)
    n_cancelled = server.log().count("dbdviz job simulate cancelled")
    start_long_simulation(page)
    browser.button(page, "Stop").click()
    page.get_by_text("Stopped after").wait_for(timeout=10000)
    assert server.wait_for_log(
        "dbdviz job simulate cancelled", timeout=10, count=n_cancelled + 1
    )
    assert errors == []
    page.close()


def test_two_pages_do_not_share_state(server, chromium):
    a, errors_a = open_dashboard(chromium, server)
    b, errors_b = open_dashboard(chromium, server)
    set_spinner(a, "Replicates", 7)
    a.wait_for_timeout(300)
    browser.button(a, "Simulate").click()
    wait_for_legend(a, "simulation mean (n=7)")
    b.wait_for_timeout(1000)
    assert not any("simulation mean" in s for s in legends(b))
    assert b.get_by_text("Ready: press").is_visible()
    assert (
        b.locator(".bk-input-group", has=b.get_by_text("Replicates", exact=True))
        .locator("input")
        .first.input_value()
        == "100"
    )
    assert errors_a == [] and errors_b == []
    a.close()
    b.close()


def test_closing_the_tab_stops_its_job(server, chromium):
    page, _ = open_dashboard(chromium, server)
    n_started = server.log().count("dbdviz job simulate started")
    n_destroyed = server.log().count("dbdviz session destroyed: stopped 1 job(s)")
    n_cancelled = server.log().count("dbdviz job simulate cancelled")
    start_long_simulation(page)
    assert server.wait_for_log("dbdviz job simulate started", count=n_started + 1)
    page.close()
    # --unused-session-lifetime 1000 ms: the server destroys the session, which stops
    # the job; the worker thread logs its end.
    assert server.wait_for_log(
        "dbdviz session destroyed: stopped 1 job(s)", timeout=30, count=n_destroyed + 1
    ), server.log()[-3000:]
    assert server.wait_for_log(
        "dbdviz job simulate cancelled", timeout=10, count=n_cancelled + 1
    )
    tail = server.log().split("dbdviz session destroyed: stopped 1 job(s)")[-1]
    assert "Traceback" not in tail


def test_closing_the_tab_stops_its_training(server, chromium):
    page, _ = open_dashboard(chromium, server)
    simulate_small(page, replicates=8, steps=40)
    destroyed = "dbdviz session destroyed: stopped 1 job(s) ['train']"
    n_destroyed = server.log().count(destroyed)
    n_cancelled = server.log().count("dbdviz job train cancelled")
    start_training(page)
    page.close()
    assert server.wait_for_log(destroyed, timeout=30, count=n_destroyed + 1), (
        server.log()[-3000:]
    )
    assert server.wait_for_log(
        "dbdviz job train cancelled", timeout=10, count=n_cancelled + 1
    )


def open_at(ctx, server, width: int, height: int):
    page = ctx.new_page()
    page.set_viewport_size({"width": width, "height": height})
    errors = browser.watch_console(page)
    page.goto(server.url)
    browser.wait_idle(page)
    browser.button(page, "Simulate").wait_for(timeout=30000)
    page.wait_for_timeout(500)
    return page, errors


def assert_fits(page, min_font: float) -> dict:
    """Nothing cut off, no sideways scrolling, no text below ``min_font`` px."""
    rep = browser.layout(page)
    assert browser.cut_off(rep) == []
    assert rep["scrollers"] == []
    assert rep["doc"]["scroll"] <= rep["doc"]["client"]
    small = [f for f in rep["fonts"] if f["size"] < min_font]
    assert small == [], small
    return rep


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_the_layout_fits_a_projector(server, chromium, width, height):
    """Controls first: Simulate on screen without scrolling, nothing cut off, no
    sideways scroll, type >= 14 px; after Simulate the plot and its error table fit
    the width; the Presentation switch enlarges the type and still fits."""
    page, errors = open_at(chromium, server, width, height)
    assert_fits(page, 14)
    sim = browser.button(page, "Simulate").bounding_box()
    assert sim["y"] >= 0 and sim["y"] + sim["height"] <= height
    assert sim["x"] >= 0 and sim["x"] + sim["width"] <= width
    simulate_small(page, replicates=10, steps=50)
    wait_for_legend(page, "pair approximation")
    page.wait_for_timeout(1000)
    assert_fits(page, 14)
    plot = browser.element_box(page, "canvas")
    table = browser.element_box(page, "table")
    assert plot is not None and table is not None
    assert 0 <= plot["left"] and plot["right"] <= width
    assert 0 <= table["left"] and table["right"] <= width
    # every legend beside its plot, none over the data (it covered the curves)
    assert page.evaluate(JS_LEGENDS_INSIDE) == []
    assert page.evaluate(JS_LEGENDS_BESIDE) >= 2  # moments, phase plane
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout_{width}x{height}.png"))
    browser.button(page, "Presentation").click()
    page.wait_for_function(
        "() => document.documentElement.classList.contains('dbd-presentation')"
    )
    page.wait_for_timeout(1000)
    rep = assert_fits(page, 18)
    assert min(f["size"] for f in rep["fonts"]) >= 18
    plot = browser.element_box(page, "canvas")
    assert plot["right"] <= width
    page.screenshot(path=str(ARTIFACTS / f"layout_{width}x{height}_presentation.png"))
    assert errors == []
    page.close()


def spinner_value(page, label: str) -> str:
    group = page.locator(".bk-input-group", has=page.get_by_text(label, exact=True))
    return group.locator("input").first.input_value()


def test_a_rejected_value_is_reported_in_the_widgets_words(server, chromium):
    """Steps takes values beyond the old 2000 cap; -5 is rejected with the label
    and the allowed range, the box shows the value in use, as plain text."""
    page, errors = open_dashboard(chromium, server)
    set_spinner(page, "Steps", 5000)
    page.wait_for_timeout(500)
    assert spinner_value(page, "Steps") == "5000"
    page.get_by_text("Settings changed").wait_for(state="hidden", timeout=1000)
    set_spinner(page, "Steps", -5)
    page.get_by_text(
        "Steps: -5 rejected, allowed [1, 1000000]; 5000 is kept."
    ).wait_for(timeout=30000)
    page.wait_for_function(
        "() => { const f = (r) => { for (const e of r.querySelectorAll('input'))"
        " if (e.value === '-5') return true; for (const e of r.querySelectorAll('*'))"
        " if (e.shadowRoot && f(e.shadowRoot)) return true; return false; };"
        " return !f(document); }",
        timeout=10000,
    )
    assert spinner_value(page, "Steps") == "5000"
    set_spinner(page, "Replicates", 30000)  # 30000 x 5001 x 1600 B > 8 GiB
    page.get_by_text("Cannot simulate these settings.").wait_for(timeout=10000)
    assert page.get_by_text("Keep snapshots=False").count() == 1
    assert errors == []
    page.close()


def test_the_exported_figure_opens_offline(server, chromium, tmp_path):
    """The exported HTML figure draws with every request off the machine refused,
    with no console error; its title names the parameters."""
    page, errors = open_dashboard(chromium, server)
    simulate_small(page, replicates=10, steps=40)
    page.locator(".bk-tab", has_text="Export").click()
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download:
        page.get_by_text("Download figure (HTML)").click()
    path = tmp_path / "figure.html"
    path.write_bytes(Path(download.value.path()).read_bytes())
    # the PNG, drawn on the server: 1600 x 900, not blank
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download_png:
        page.get_by_text("Download figure (PNG").click()
    assert download_png.value.suggested_filename == "moments.png"
    from PIL import Image

    png = Image.open(download_png.value.path())
    assert png.format == "PNG" and png.size == (1600, 900)
    assert len(png.convert("RGB").getcolors(1_000_000)) > 50
    page.close()
    offline = chromium.new_page()
    requests: list[str] = []
    offline.on("request", lambda r: requests.append(r.url))
    offline.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("file:")
            else route.abort()
        ),
    )
    errors_offline = browser.watch_console(offline)
    offline.goto(path.as_uri())
    offline.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0", timeout=30000
    )
    offline.wait_for_timeout(1000)
    assert browser.element_box(offline, "canvas") is not None
    title = offline.title()
    assert title.startswith("prey count X: L = 40, birth 0.025, death 0.06")
    assert "10 replicates" in title
    assert [u for u in requests if not u.startswith("file:")] == []
    assert errors_offline == [] and errors == []
    offline.close()


def test_dbdviz_serve_prepares_every_kernel_before_it_is_ready(chromium):
    """``dbdviz serve`` says which kernels it prepares (5 parts, with progress)
    before it says it serves; the first Train then streams theta(t) and the learned
    curve."""
    with browser.serve(cli=True) as srv:
        log = srv.log()
        marks = [
            log.find(f"preparing kernels: {p} ({k}/5)")
            for k, p in enumerate(("simulate", "dbm", "basis", "train", "evaluate"), 1)
        ]
        ready = log.find("kernels ready in")
        assert -1 not in marks and marks == sorted(marks) and ready > marks[-1]
        assert log.find("serving the dashboard", ready) > ready
        page, errors = open_dashboard(chromium, srv)
        simulate_small(page, replicates=10, steps=30)
        start_training(page, opt_steps=5000, wait=False)
        wait_for_change(page, JS_THETA, None, timeout=60)
        page.locator(".bk-tab", has_text="Moments").click()
        wait_for_change(page, JS_LEARNED, None, timeout=60)
        page.locator(".bk-tab", has_text="Training").click()
        page.locator("button:enabled", has_text="Stop").last.click()
        page.get_by_text("Training stopped").wait_for(timeout=30000)
        assert errors == []
        page.close()


def test_tabs_are_tabs_and_player_buttons_have_titles(server, chromium):
    page, errors = open_dashboard(chromium, server)
    tab = page.get_by_role("tab", name="Lattice")
    tab.wait_for(timeout=10000)
    assert (
        page.get_by_role("tab", name="Moments").get_attribute("aria-selected") == "true"
    )
    tab.click()
    page.wait_for_function(
        "() => { const f = (r) => { for (const e of r.querySelectorAll('*')) {"
        " if (e.shadowRoot && f(e.shadowRoot)) return true;"
        " if (e.tagName === 'BUTTON' && e.title === 'Play') return true; }"
        " return false; }; return f(document); }",
        timeout=10000,
    )
    from playwright.sync_api import expect

    expect(tab).to_have_attribute("aria-selected", "true", timeout=5000)
    expect(page.get_by_role("tab", name="Moments")).to_have_attribute(
        "aria-selected", "false", timeout=5000
    )
    # every icon-only button shown (player, number-box arrows, card toggles, plot
    # tools) has a title: on the Lattice tab and, after a simulation, the others
    assert page.evaluate(JS_UNTITLED_BUTTONS) == []
    simulate_small(page, replicates=10, steps=30)
    for name in ("Moments", "Training", "Hierarchy"):
        page.get_by_role("tab", name=name).click()
        page.wait_for_timeout(1500)  # the titles are re-applied every second
        assert page.evaluate(JS_UNTITLED_BUTTONS) == [], name
    assert errors == []
    page.close()
