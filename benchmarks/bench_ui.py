"""Dashboard latency: serve -> interactive page, click -> first plot, live update rate.

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
    " if (m.type === 'Legend') for (const it of m.items) { const l = it.label;"
    " const s = l && typeof l === 'object' && 'value' in l ? l.value : String(l);"
    " if (s.includes(t)) return true; } return false; }"
)


def open_page(ctx, url):
    page = ctx.new_page()
    page.goto(url)
    browser.wait_idle(page, 60000)
    browser.button(page, "Simulate").wait_for(timeout=60000)
    return page


def main() -> None:
    if not browser.chromium_available():
        sys.exit("no /usr/bin/chromium: bash scripts/install-browser.sh")
    rows = []
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
            browser.button(page, "Stop").click()
            page.get_by_text("Stopped after").wait_for(timeout=30000)
            rows.append(
                ("click Stop -> 'Stopped' shown", f"{time.perf_counter() - t4:.2f} s")
            )
            # the Training panel: no backend yet -> nothing to time
            from dbdviz.ui.explorer import trainer_class

            rows.append(
                (
                    "click Train -> first plot update",
                    "n/a (no dbdviz.dbd.Trainer yet)"
                    if trainer_class() is None
                    else "not measured",
                )
            )
    print("| measurement | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
