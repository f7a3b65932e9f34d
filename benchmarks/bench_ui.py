"""Dashboard latency: serve -> interactive page, click -> first plot, live update rate.

Training: click Train on the paper ensemble -> first theta(t) plot update in the
browser, then how often the theta plot, the error plot and the learned curve of the
moments plot change in the browser while it trains, and click Stop -> stopped.

Also ``dbdviz serve`` as users start it: its start until it answers (it prepares
every kernel first) and its first Train -> first learned curve
(``--serve-only``: this part alone).

Run: ``python benchmarks/bench_ui.py`` (needs /usr/bin/chromium and playwright; see
``scripts/install-browser.sh``). Prints a Markdown table. The numba cache is warmed
first (one throw-away serve), so "warm cache" figures exclude compilation.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import browser  # noqa: E402

JS_HAS_LEGEND = (
    "(t) => { for (const d of Bokeh.documents) for (const m of d._all_models.values())"
    " if (m.type === 'Legend') for (const it of m.items) { if (it.visible === false)"
    " continue; const l = it.label;"
    " const s = l && typeof l === 'object' && 'value' in l ? l.value : String(l);"
    " if (s.includes(t)) return true; } return false; }"
)


def _js_source(name: str, expr: str) -> str:
    """JS: ``expr`` of the data ``d`` of the ColumnDataSource named ``name``."""
    return (
        "() => { for (const doc of Bokeh.documents) for (const m of"
        " doc._all_models.values()) if (m.type === 'ColumnDataSource' &&"
        f" m.name === '{name}' && m.data.x && m.data.x.length) {{ const d = m.data;"
        f" return {expr}; }} return null; }}"
    )


JS_THETA_LEN = _js_source("theta", "d.x.length + ':' + d[Object.keys(d)[1]].join(',')")
JS_ERRORS_LEN = _js_source("errors", "d.x.length")
JS_LEARNED = (
    "() => { for (const d of Bokeh.documents) for (const m of d._all_models.values())"
    " if (m.type === 'Legend') for (const it of m.items) { const l = it.label;"
    " const s = l && typeof l === 'object' && 'value' in l ? l.value : String(l);"
    " if (s === 'DBD learned' && it.renderers.length && it.visible !== false) {"
    " const dd = it.renderers[0].data_source.data; const k = Object.keys(dd).find("
    " (k) => k !== 't'); if (dd[k] && dd[k].length) return Array.from(dd[k]).join(',');"
    " } } return null; }"
)


def count_changes(page, exprs: dict[str, str], seconds: float) -> dict[str, float]:
    """Distinct successive values of each JS expression per second."""
    seen = dict.fromkeys(exprs, 0)
    last = {k: page.evaluate(js) for k, js in exprs.items()}
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for k, js in exprs.items():
            v = page.evaluate(js)
            if v is not None and v != last[k]:
                seen[k] += 1
                last[k] = v
        time.sleep(0.02)
    dt = time.perf_counter() - t0
    return {k: n / dt for k, n in seen.items()}


def set_spinner(page, label: str, value: int) -> None:
    inp = page.locator(
        ".bk-input-group", has=page.get_by_text(label, exact=True)
    ).locator("input")
    inp.first.fill(str(value))
    inp.first.press("Enter")


def open_page(ctx, url):
    page = ctx.new_page()
    page.goto(url)
    browser.wait_idle(page, 60000)
    browser.button(page, "Simulate").wait_for(timeout=60000)
    return page


def first_train_after_dbdviz_serve(rows: list) -> None:
    """``dbdviz serve`` (kernels prepared before it answers) -> the first Train of
    the first page: theta(t) and the learned curve in the browser (paper preset)."""
    with browser.chromium() as ctx, browser.serve(cli=True, timeout=300) as srv:
        rows.append(
            (
                "dbdviz serve start -> /dashboard answers (every kernel prepared)",
                f"{srv.ready_after:.2f} s",
            )
        )
        page = open_page(ctx, srv.url)
        browser.button(page, "Simulate").click()
        page.get_by_text("Done in").wait_for(timeout=180000)
        page.locator(".bk-tab", has_text="Training").click()
        set_spinner(page, "Optimisation steps", 5000)
        page.wait_for_timeout(500)
        t0 = time.perf_counter()
        browser.button(page, "Train").click()
        page.wait_for_function(JS_THETA_LEN, timeout=120000)
        rows.append(
            (
                "after dbdviz serve: first click Train -> first theta(t) plot",
                f"{time.perf_counter() - t0:.2f} s",
            )
        )
        page.wait_for_function(JS_LEARNED, timeout=120000)
        rows.append(
            (
                "after dbdviz serve: first click Train -> first learned curve "
                "(target <= 2 s)",
                f"{time.perf_counter() - t0:.2f} s",
            )
        )
        page.locator("button:enabled", has_text="Stop").last.click()
        page.get_by_text("Training stopped").wait_for(timeout=60000)


def main() -> None:
    if not browser.chromium_available():
        sys.exit("no /usr/bin/chromium: bash scripts/install-browser.sh")
    rows = []
    if "--serve-only" in sys.argv[1:]:
        first_train_after_dbdviz_serve(rows)
        print("| measurement | value |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
        return
    first_train_after_dbdviz_serve(rows)
    with browser.serve():  # warm the numba cache and Python imports once
        pass
    with browser.chromium() as ctx:
        t0 = time.perf_counter()
        with browser.serve() as srv:
            page = open_page(ctx, srv.url)
            t_interactive = time.perf_counter() - t0
            rows.append(
                (
                    "panel serve start -> /dashboard answers (warm cache)",
                    f"{srv.ready_after:.2f} s",
                )
            )
            rows.append(
                (
                    "panel serve start -> interactive page (Simulate visible)",
                    f"{t_interactive:.2f} s",
                )
            )
            t1 = time.perf_counter()
            page2 = open_page(ctx, srv.url)
            rows.append(
                ("second tab: goto -> interactive", f"{time.perf_counter() - t1:.2f} s")
            )
            page2.close()

            # click Simulate (paper preset: 100 x 500 steps on 40 x 40) -> moment plot
            t2 = time.perf_counter()
            browser.button(page, "Simulate").click()
            page.wait_for_function(JS_HAS_LEGEND, arg="simulation mean", timeout=120000)
            rows.append(
                (
                    "click Simulate (paper, 100 reps) -> moment plot shown",
                    f"{time.perf_counter() - t2:.2f} s",
                )
            )
            page.get_by_text("Done in").wait_for(timeout=120000)
            rows.append(
                (
                    "click Simulate -> closures drawn, job done",
                    f"{time.perf_counter() - t2:.2f} s",
                )
            )

            # training on the paper ensemble (measured defaults: depth 0, couplings)
            page.locator(".bk-tab", has_text="Training").click()
            set_spinner(page, "Optimisation steps", 5000)
            page.wait_for_timeout(500)
            t5 = time.perf_counter()
            browser.button(page, "Train").click()
            page.wait_for_function(JS_THETA_LEN, timeout=120000)
            rows.append(
                (
                    "click Train (paper ensemble) -> first theta(t) plot in browser",
                    f"{time.perf_counter() - t5:.2f} s",
                )
            )
            page.wait_for_function(JS_LEARNED, timeout=120000)
            rows.append(
                (
                    "click Train -> first learned curve in the moments plot",
                    f"{time.perf_counter() - t5:.2f} s",
                )
            )
            rates = count_changes(
                page,
                {"theta": JS_THETA_LEN, "errors": JS_ERRORS_LEN, "learned": JS_LEARNED},
                10.0,
            )
            status = page.get_by_text("Training: step").first.inner_text()
            rows.append(
                (
                    "browser-side plot updates while training (10 s)",
                    f"theta(t) {rates['theta']:.1f} /s, errors "
                    f"{rates['errors']:.1f} /s, learned curve "
                    f"{rates['learned']:.1f} /s ({status})",
                )
            )
            t6 = time.perf_counter()
            page.locator("button:enabled", has_text="Stop").last.click()
            page.get_by_text("Training stopped").wait_for(timeout=30000)
            rows.append(
                (
                    "click Stop (training) -> 'Training stopped' shown",
                    f"{time.perf_counter() - t6:.2f} s",
                )
            )

            # live update rate during a long job: progress-bar value changes seen in
            # the browser per second
            page.locator("select").first.select_option("large")
            page.get_by_text("Advanced", exact=True).click()
            page.locator("input[type=checkbox]").first.uncheck()
            for label, v in (("Replicates", 2000), ("Steps", 1000)):
                inp = page.locator(
                    ".bk-input-group", has=page.get_by_text(label, exact=True)
                ).locator("input")
                inp.first.fill(str(v))
                inp.first.press("Enter")
            page.wait_for_timeout(500)
            browser.button(page, "Simulate").click()
            bar = page.locator("progress").first
            seen, last = 0, None
            t3 = time.perf_counter()
            while time.perf_counter() - t3 < 8.0:
                v = bar.get_attribute("value")
                if v != last:
                    seen += 1
                    last = v
                time.sleep(0.02)
            rate = seen / (time.perf_counter() - t3)
            rows.append(
                (
                    "progress updates seen in the browser during a long job",
                    f"{rate:.1f} /s (bar at {last} replicates after 8 s)",
                )
            )
            t4 = time.perf_counter()
            page.locator("#sidebar").get_by_role("button", name="Stop").click()
            page.get_by_text("Stopped after").wait_for(timeout=30000)
            rows.append(
                ("click Stop -> 'Stopped' shown", f"{time.perf_counter() - t4:.2f} s")
            )
    print("| measurement | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
