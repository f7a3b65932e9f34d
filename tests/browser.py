"""Helpers to serve the dashboard and drive it in headless Chromium (no pytest here).

Used by ``tests/test_browser.py`` and ``benchmarks/bench_ui.py``. The app is served
exactly as users serve it, ``panel serve apps/dashboard.py``, in a subprocess whose
log goes to a file: the tests read that log to check server-side events (a closed
tab's job is stopped). Chromium is Debian's ``/usr/bin/chromium`` driven through
Playwright's ``executable_path`` (``scripts/install-browser.sh`` installs it); we never
run ``playwright install``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DBDVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_available() -> bool:
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def require_for_tests() -> None:
    """Fail (never skip) the calling test module when Chromium or playwright is
    missing: the README's test command installs both, so their absence is a broken
    set-up, not a reason to pass silently."""
    import pytest

    if not chromium_available():
        pytest.fail(
            f"{CHROMIUM} missing: run `bash scripts/install-browser.sh`", pytrace=False
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "the playwright package is missing: pip install -e '.[test]'",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``panel serve apps/dashboard.py`` subprocess on a free port."""

    def __init__(
        self, port: int, proc: subprocess.Popen, log_path: Path, started: float
    ):
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.started = started
        self.ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dashboard"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 30.0, count: int = 1) -> bool:
        """Wait until ``text`` occurs ``count`` times in the server log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False


@contextlib.contextmanager
def serve(
    timeout: float = 120.0,
    warmup: bool = True,
    extra_args: tuple[str, ...] = (),
    cli: bool = False,
) -> Iterator[Server]:
    """Serve the dashboard; yield a :class:`Server` once /dashboard answers 200.

    Sessions are destroyed 1 s after their tab closes (``--unused-session-lifetime``)
    so tests can observe it. ``cli=True``: served by ``dbdviz serve`` instead (as
    users start it; it compiles every kernel before it answers).
    """
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="dbdviz-serve-"))
    log_path = tmp / "server.log"
    if cli:
        cmd = [sys.executable, "-m", "dbdviz", "serve", "--port", str(port)]
        cmd += ["--address", "127.0.0.1", *extra_args]
        warmup = False
    else:
        cmd = _panel_serve_cmd(port, extra_args)
    if warmup:
        cmd += ["--setup", str(ROOT / "apps" / "warmup.py")]
    yield from _serve(cmd, port, tmp, log_path, timeout)


def _panel_serve_cmd(port: int, extra_args: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(ROOT / "apps" / "dashboard.py"),
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
        "--allow-websocket-origin",
        f"localhost:{port}",
        "--check-unused-sessions",
        "500",
        "--unused-session-lifetime",
        "1000",
        "--log-level",
        "info",
        *extra_args,
    ]


def _serve(cmd, port, tmp, log_path, timeout) -> Iterator[Server]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    fh = open(log_path, "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)
    )
    server = Server(port, proc, log_path, t0)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"panel serve exited ({proc.returncode}):\n{server.log()}"
                )
            try:
                # one request at a time: each builds a session (seconds on a
                # loaded machine); a short timeout would pile up retries
                with urllib.request.urlopen(server.url, timeout=60) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"panel serve not ready after {timeout} s:\n{server.log()}"
                )
            time.sleep(0.2)
        server.ready_after = time.perf_counter() - t0
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        fh.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A Playwright ``Browser`` running Debian's Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="dbdviz-chromium-")
    try:
        with sync_playwright() as p:
            # A persistent context is the only way to pass a user-data-dir; it is the
            # browser and its first context at once.
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
            )
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def watch_console(page) -> list[str]:
    """Collect console errors and page errors of ``page`` into the returned list."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


# URLs of every <link>, <script> and CSS @import of the page, shadow roots included
# (Bokeh and Panel put each component's stylesheets in its shadow root).
JS_RESOURCE_URLS = """
() => {
  const out = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('link[href], script[src], style')) {
      if (el.tagName === 'STYLE') {
        const re = /@import\\s+(?:url\\()?["']?([^"')\\s;]+)/g;
        for (const m of el.textContent.matchAll(re))
          out.push(new URL(m[1], document.baseURI).href);
      } else {
        out.push(el.href || el.src);
      }
    }
    for (const el of root.querySelectorAll('*'))
      if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(document);
  return out;
}
"""


def external_urls(page) -> list[str]:
    """Resources the page references on another host than its server (a CDN).

    On an offline machine each of them is a console error and missing styles.
    """
    own = page.evaluate("() => location.origin")
    urls = page.evaluate(JS_RESOURCE_URLS)
    return sorted(
        {u for u in urls if u.startswith(("http:", "https:")) and not u.startswith(own)}
    )


def button(page, label: str):
    """The visible button with exactly this label (Panel renders <button>)."""
    return page.get_by_role("button", name=label, exact=True)


def wait_idle(page, timeout_ms: float = 30000) -> None:
    """Wait until Bokeh has rendered the document (a root view exists)."""
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents && Bokeh.documents.length > 0 && "
        "Bokeh.index && Object.keys(Bokeh.index).length > 0",
        timeout=timeout_ms,
    )


# Layout of the page as a user sees it (shadow roots included):
# - controls: every visible button, input, select, textarea and tab with its box and
#   the box of the nearest ancestor that clips it (overflow other than visible), so
#   a control cut off by the sidebar or a scrolling panel shows as outside that box;
# - scrollers: elements that scroll sideways (scrollWidth > clientWidth with
#   overflow-x auto/scroll), the document included;
# - fonts: the computed font size of every visible text, with a sample;
# - texts: the box of every visible text and of the element that clips it.
JS_LAYOUT = """
() => {
  const W = window.innerWidth, H = window.innerHeight;
  const parentOf = (el) => el.parentElement ||
    (el.getRootNode() instanceof ShadowRoot ? el.getRootNode().host : null);
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    for (let e = el; e; e = parentOf(e)) {
      const cs = getComputedStyle(e);
      if (cs.display === 'none' || cs.visibility === 'hidden') return false;
    }
    return true;
  };
  const clipper = (el) => {
    for (let e = parentOf(el); e; e = parentOf(e)) {
      const cs = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      // display: contents boxes (0 x 0) clip nothing
      if (cs.display === 'contents' || (r.width === 0 && r.height === 0)) continue;
      if (cs.overflowX !== 'visible' && e !== document.documentElement &&
          e !== document.body)
        return e;
    }
    return null;
  };
  const label = (el) => (el.getAttribute('aria-label') || el.title ||
    el.textContent || el.value || el.tagName).trim().slice(0, 40);
  const box = (r) => ({left: r.left, right: r.right, top: r.top, bottom: r.bottom});
  const controls = [], scrollers = [], fonts = [], texts = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) visit(el.shadowRoot);
      const tag = el.tagName;
      if (['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA'].includes(tag) ||
          el.getAttribute('role') === 'tab') {
        if (visible(el)) {
          const c = clipper(el);
          controls.push({label: label(el), tag, box: box(el.getBoundingClientRect()),
                         clip: c ? box(c.getBoundingClientRect()) : null});
        }
      }
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1 &&
          visible(el))
        scrollers.push({tag, cls: String(el.className).slice(0, 60),
                        scroll: el.scrollWidth, client: el.clientWidth});
      for (const n of el.childNodes)
        if (n.nodeType === 3 && n.textContent.trim() && visible(el)) {
          const r = el.getBoundingClientRect();
          if (r.bottom > 0 && r.top < H && r.right > 0 && r.left < W) {
            fonts.push({size: parseFloat(getComputedStyle(el).fontSize),
                        text: n.textContent.trim().slice(0, 30)});
            const c = clipper(el);
            texts.push({label: n.textContent.trim().slice(0, 40), tag, box: box(r),
                        clip: c ? box(c.getBoundingClientRect()) : null});
          }
          break;
        }
    }
  };
  visit(document);
  const de = document.documentElement;
  return {W, H, controls, scrollers, fonts, texts,
          doc: {scroll: de.scrollWidth, client: de.clientWidth}};
}
"""


def layout(page) -> dict:
    """The page's layout report (:data:`JS_LAYOUT`)."""
    return page.evaluate(JS_LAYOUT)


def cut_off(report: dict) -> list[str]:
    """Controls and texts that leave the viewport or the element that clips them."""
    bad = []
    for c in report["controls"] + report["texts"]:
        b, k = c["box"], c["clip"]
        if b["left"] < -1 or b["right"] > report["W"] + 1:
            bad.append(f"{c['tag']} {c['label']!r} outside the viewport: {b}")
        elif k is not None and (
            b["left"] < k["left"] - 1 or b["right"] > k["right"] + 1
        ):
            bad.append(f"{c['tag']} {c['label']!r} cut off: {b} in {k}")
    return bad


def element_box(page, selector: str) -> dict | None:
    """Bounding box of the first visible element matching ``selector`` (any shadow
    root), or None."""
    return page.evaluate(
        """(sel) => {
          const find = (root) => {
            for (const el of root.querySelectorAll(sel)) {
              const r = el.getBoundingClientRect();
              if (r.width > 0 && r.height > 0)
                return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            }
            for (const el of root.querySelectorAll('*'))
              if (el.shadowRoot) { const b = find(el.shadowRoot); if (b) return b; }
            return null;
          };
          return find(document);
        }""",
        selector,
    )
