"""The explorer notebook in a real JupyterLab, driven in headless Chromium, offline.

A JupyterLab server is started on localhost (free port, token, a temporary root
holding a copy of ``notebooks/00_explorer.ipynb``, its own config, settings,
workspace and runtime directories); Debian's Chromium (``tests/browser.py``) opens
the notebook, runs all cells, then presses Simulate, Train and Stop in the
explorer's output. Every request of the browser is intercepted: anything not
addressed to this server is recorded and aborted, so the test fails on a CDN or
any other host (classrooms are often offline). The server and its kernels are shut
down at teardown.

Diagnostics: the kernel logs Panel's comm messages (``tests/jupyter_commlog.py``, an
IPython startup file of the test's profile) and the page logs its CommManager's
traffic; both and the page's console go to ``artifacts/jupyter-*.txt`` on every run.
They showed why the test used to fail 4 runs in 10 (messages handled on a kernel
subshell's thread: ``dbdviz.ui.notebook``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402

pytestmark = pytest.mark.ui

browser.require_for_tests()

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_explorer.ipynb"
ARTIFACTS = ROOT / "artifacts"

# The explorer's Bokeh document: the one holding the Simulate button; the moments
# view shown alone lives in another output (another document).
JS_EXPLORER_DOC = """
const explorerDoc = () => {
  for (const d of Bokeh.documents)
    for (const m of d._all_models.values())
      if (m.label === 'Simulate') return d;
  return null;
};
const label = (l) => l && typeof l === 'object' && 'value' in l ? l.value : String(l);
"""

# Legend labels of the explorer, and the data of the renderer of one legend item.
JS_LEGENDS = (
    "() => {"
    + JS_EXPLORER_DOC
    + """
  const d = explorerDoc(); if (!d) return null;
  const out = [];
  for (const m of d._all_models.values())
    if (m.type === 'Legend') for (const it of m.items) out.push(label(it.label));
  return out;
}"""
)

JS_CURVE = (
    "(name) => {"
    + JS_EXPLORER_DOC
    + """
  const d = explorerDoc(); if (!d) return null;
  for (const m of d._all_models.values())
    if (m.type === 'Legend')
      for (const it of m.items) {
        if (!label(it.label).startsWith(name) || !it.renderers.length) continue;
        // the figures hold an empty, hidden learned curve until there is one (and
        // old figures may linger among the models): skip those
        if (it.visible === false) continue;
        const s = it.renderers[0].data_source.data;
        const x = s.t !== undefined ? 't' : 'x';
        const y = Object.keys(s).find((k) => k !== 't' && k !== 'x' && s[k]);
        if (s[x] === undefined || y === undefined || !s[x].length) continue;
        return {t: Array.from(s[x]), y: Array.from(s[y])};
      }
  return null;
}"""
)

JS_THETA = (
    "() => {"
    + JS_EXPLORER_DOC
    + """
  const d = explorerDoc(); if (!d) return null;
  for (const m of d._all_models.values())
    if (m.type === 'ColumnDataSource' && m.name === 'theta' && m.data.x &&
        m.data.x.length) {
      const out = {};
      for (const k of Object.keys(m.data)) out[k] = Array.from(m.data[k]);
      return out;
    }
  return null;
}"""
)

# Horizontal overflow of the explorer's output: its output area's scroll and client
# widths, and the visible elements (any shadow root) reaching past its right edge.
JS_OVERFLOW = (
    "() => {"
    + JS_EXPLORER_DOC
    + """
  const d = explorerDoc(); if (!d) return null;
  let host = null;
  for (const v of Object.values(Bokeh.index))
    if (v.model && v.model.document === d) { host = v.el; break; }
  if (!host) return null;
  const out = host.closest('.jp-OutputArea-output') || host.parentElement;
  const R = out.getBoundingClientRect();
  const bad = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) visit(el.shadowRoot);
      const r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1 || r.right <= R.right + 1) continue;
      if (getComputedStyle(el).visibility === 'hidden') continue;
      bad.push(`${el.tagName}.${String(el.className).slice(0, 40)} ` +
               `${Math.round(r.left)}-${Math.round(r.right)}`);
    }
  };
  visit(host.shadowRoot || host);
  return {width: Math.round(R.width), scroll: out.scrollWidth,
          client: out.clientWidth, bad: bad.slice(0, 10)};
}"""
)

TABS = ("Moments", "Phase plane", "Lattice", "Training", "Hierarchy", "Regime map")

# State of the notebook in JupyterLab: kernel status, execution counts and outputs.
JS_NOTEBOOK = """
() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return null;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = [];
  for (const c of w.content.widgets) {
    if (c.model.type !== 'code') continue;
    const outs = c.model.outputs.toJSON();
    cells.push({count: c.model.executionCount, outputs: outs.map((o) => ({
      type: o.output_type, name: o.name || null,
      text: [o.text || '', o.ename || '', o.evalue || '',
             ((o.data || {})['text/html'] || ''), ((o.data || {})['text/plain'] || '')]
            .map((t) => Array.isArray(t) ? t.join('') : String(t)).join('\\n')
            .slice(0, 4000),
    }))});
  }
  return {status: kernel ? kernel.status : null, cells};
}
"""


# Diagnostics in the page: the comm traffic of Panel's CommManager models.
JS_COMMLOG = r"""
(function () {
  window.__commlog = [];
  const L = (...a) => window.__commlog.push(
    [(Date.now() / 1000).toFixed(3), ...a].join(' '));
  const ev = (e) => {
    const n = e.constructor ? e.constructor.name : '?';
    const m = e.model ? String(e.model.id).slice(-6) : '';
    if (e.attr) return `${n}:${m}.${e.attr}`;
    if (e.msg_type) return `${n}:${e.msg_type}:${(e.msg_data || {}).event_name || ''}`;
    return `${n}:${m}`;
  };
  const install = function () {
    const M = window.Bokeh && window.Bokeh.Models;
    const CM = M && M['panel.models.comm_manager.CommManager'];
    if (!CM) return false;
    const mh = CM.prototype.msg_handler;
    CM.prototype.msg_handler = function (msg) {
      const md = msg.metadata || {}, c = msg.content && msg.content.data;
      const id = String(this.plot_id).slice(-6);
      let desc = md.msg_type || '';
      if (typeof c === 'string') {
        try {
          const j = JSON.parse(c);
          if (j.msgtype) desc += 'header ' + j.msgtype + ' ' + j.msgid +
            ' bufs=' + (j.num_buffers || 0);
          else if (j.events) desc += 'content ' + j.events.length + ' ' +
            j.events.slice(0, 30).map((e) => e.kind + ':' +
              String((e.model || {}).id || '').slice(-6) + '.' +
              (e.attr || '')).join(',');
          else desc += 'text ' + c.slice(0, 60);
        } catch (e) { desc += 'text ' + c.slice(0, 60); }
      } else if (msg.buffers && msg.buffers.length) {
        desc += 'buffer';
      }
      try {
        const r = mh.call(this, msg);
        L('in', id, desc);
        return r;
      } catch (e) {
        L('in-ERROR', id, desc, String(e));
        throw e;
      }
    };
    const pe = CM.prototype.process_events;
    CM.prototype.process_events = function () {
      const b = this._event_buffer || [];
      L('out', String(this.plot_id).slice(-6), b.length, b.map(ev).join(','));
      return pe.call(this);
    };
    const ack = CM.prototype.on_ack;
    CM.prototype.on_ack = function (msg) {
      L('ack', String(this.plot_id).slice(-6), (msg.metadata || {}).msg_type,
        'buffered', (this._event_buffer || []).length);
      return ack.call(this, msg);
    };
    return true;
  };
  const id = setInterval(function () { if (install()) clearInterval(id); }, 20);
})();
"""


def _free_port() -> int:
    return browser.free_port()


class Lab:
    """A JupyterLab server subprocess on a free localhost port."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root.parent / f"{root.name}-lab.log"
        self.runtime = root.parent / f"{root.name}-runtime"
        self.proc: subprocess.Popen | None = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 120.0) -> None:
        env = dict(os.environ)
        home = self.root.parent / f"{self.root.name}-home"
        for key, sub in (
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTERLAB_SETTINGS_DIR", "settings"),
            ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
            ("IPYTHONDIR", "ipython"),
        ):
            env[key] = str(home / sub)
            (home / sub).mkdir(parents=True, exist_ok=True)
        env["JUPYTER_RUNTIME_DIR"] = str(self.runtime)
        self.runtime.mkdir(parents=True, exist_ok=True)
        # no news prompt over the output (JupyterLab asks once, in a notification)
        notif = home / "settings" / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false"})
        )
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        env["DBDVIZ_NOTEBOOK_SMALL"] = "1"
        # diagnostics: the kernel logs Panel's comm traffic (tests/jupyter_commlog.py)
        startup = home / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(__file__).with_name("jupyter_commlog.py"), startup)
        self.comm_log = self.root.parent / f"{self.root.name}-comm.log"
        env["DBDVIZ_COMM_LOG"] = str(self.comm_log)
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            # the server itself asks no outside host either
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # window.jupyterapp: run the cells and read their state
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        fh = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(self.root)
        )
        fh.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log()}")
            try:
                url = f"{self.base}/api/status?token={self.token}"
                with urllib.request.urlopen(url, timeout=10) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter lab not ready:\n{self.log()}")
            time.sleep(0.2)

    def _kernel_pids(self) -> list[int]:
        """Kernels of this server: processes whose command line names a connection
        file in its own runtime directory."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(self.runtime) in cmdline and "kernel" in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        if self.proc is None:
            return
        kernels = self._kernel_pids() if Path("/proc").is_dir() else []
        try:  # a clean shutdown stops the kernels too
            req = urllib.request.Request(
                f"{self.base}/api/shutdown?token={self.token}", method="POST", data=b""
            )
            urllib.request.urlopen(req, timeout=10).close()
            self.proc.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in kernels:  # left over only if the shutdown failed
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    server = Lab(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def notebook_state(page) -> dict:
    return page.evaluate(JS_NOTEBOOK)


def wait_for(page, js: str, arg=None, timeout: float = 60.0, what: str = ""):
    """Poll ``js(arg)`` until it returns a truthy value; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(js, arg)
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out ({timeout} s) waiting for {what or js[:80]!r}")


def wait_for_change(page, js: str, arg, before, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = page.evaluate(js, arg)
        if now and now != before:
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"no change of {js[:60]!r} within {timeout} s")


def _write_diagnostics(page, lab, console: list[str]) -> None:
    """Write the comm traffic seen by the kernel and by the page, and the page's
    console, to ``artifacts/jupyter-*.txt`` (read them when the test fails)."""
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        log = page.evaluate("() => window.__commlog || []")
    except Exception as exc:  # the page may be gone
        log = [f"(page not readable: {exc})"]
    (ARTIFACTS / "jupyter-comm-browser.txt").write_text("\n".join(log) + "\n")
    try:
        kernel = lab.comm_log.read_text(errors="replace")
    except OSError as exc:
        kernel = f"(no kernel log: {exc})"
    (ARTIFACTS / "jupyter-comm-kernel.txt").write_text(kernel)
    try:
        failures = python_failures(notebook_state(page))
    except Exception as exc:  # the page may be gone
        failures = [f"(notebook not readable: {exc})"]
    (ARTIFACTS / "jupyter-console.txt").write_text(
        "\n".join(console + ["--- tracebacks in the outputs:", *failures]) + "\n"
    )


def layout_warnings(state: dict) -> list[str]:
    """Panel's layout warnings printed into the outputs ("sizing_mode='stretch_width'
    on Row is being overridden ...": the regime map's plot did that)."""
    return [
        f"cell {k}: {out['text'][:300]}"
        for k, cell in enumerate(state["cells"])
        for out in cell["outputs"]
        if "sizing_mode" in out["text"] or "WARNING:param" in out["text"]
    ]


def python_failures(state: dict) -> list[str]:
    """Errors and tracebacks in the notebook's outputs (cells and the comm
    callbacks, whose tracebacks Panel and pyviz_comms print into the output)."""
    bad = []
    for k, cell in enumerate(state["cells"]):
        for out in cell["outputs"]:
            if out["type"] == "error" or "Traceback" in out["text"]:
                bad.append(f"cell {k}: {out['text'][:2000]}")
    return bad


def test_the_explorer_notebook_simulates_and_trains_live_offline(lab):
    foreign: list[str] = []
    sockets: list[str] = []
    own = (f"http://127.0.0.1:{lab.port}/", f"ws://127.0.0.1:{lab.port}/")

    def route(r):
        url = r.request.url
        if url.startswith(own) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            foreign.append(url)
            r.abort()

    with browser.chromium() as ctx:
        ctx.route("**/*", route)
        ctx.add_init_script(JS_COMMLOG)
        page = ctx.new_page()
        # console errors, each with the step it happened in
        phase = ["open"]
        errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                errors.append(f"[{phase[0]}] console.error: {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(f"[{phase[0]}] pageerror: {e}"))
        page.on("websocket", lambda ws: sockets.append(ws.url))
        console: list[str] = []
        page.on("console", lambda m: console.append(f"[{phase[0]}] {m.type}: {m.text}"))
        try:
            page.goto(f"{lab.base}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
            wait_for(
                page,
                "() => { const s = ("
                + JS_NOTEBOOK
                + ")(); return s && s.status === 'idle'; }",
                timeout=90,
                what="the notebook and an idle kernel",
            )
            phase[0] = "run all"
            page.evaluate(
                "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
            )
            n_code = len(notebook_state(page)["cells"])
            state = wait_for(
                page,
                "() => { const s = ("
                + JS_NOTEBOOK
                + ")(); return s && s.status === 'idle'"
                " && s.cells.every((c) => c.count) ? s : null; }",
                timeout=240,
                what="all cells to run",
            )
            assert len(state["cells"]) == n_code
            assert python_failures(state) == []
            assert layout_warnings(state) == []
            # the explorer drew (its Simulate button), the single view its curves
            simulate = page.get_by_role("button", name="Simulate", exact=True)
            simulate.wait_for(timeout=30000)
            wait_for(
                page,
                "() => (" + JS_LEGENDS + ")() !== null",
                what="the explorer's plots",
            )
            assert not any("simulation mean" in s for s in page.evaluate(JS_LEGENDS))
            n_docs = page.evaluate("() => Bokeh.documents.length")
            assert n_docs >= 2  # the explorer and the moments view of the cell

            # Simulate: the explorer's moments plot draws the demo ensemble (50
            # replicates, t = 0 ... 300) and its closures
            phase[0] = "simulate"
            simulate.click()
            wait_for(
                page,
                "() => (" + JS_LEGENDS + ")().some((s) => s.startsWith('pair'))",
                timeout=90,
                what="the simulation and its closures",
            )
            page.get_by_text("Done in").first.wait_for(timeout=60000)
            labels = page.evaluate(JS_LEGENDS)
            assert "simulation mean (n=50)" in labels and "mean field" in labels
            curve = wait_for(page, JS_CURVE, "simulation mean", what="the mean's data")
            assert len(curve["t"]) == 301 and curve["t"][-1] == 300

            # every tab fits the output's width (beside the settings column)
            for tab in (*TABS, "Export"):
                page.locator(".bk-tab", has_text=tab).first.click()
                page.wait_for_timeout(500)
                fit = page.evaluate(JS_OVERFLOW)
                assert fit is not None and fit["width"] > 600
                assert fit["bad"] == [] and fit["scroll"] <= fit["client"] + 1, (
                    tab,
                    fit,
                )

            # Train: theta(t) and the learned curve update live, more than once
            phase[0] = "train"
            page.locator(".bk-tab", has_text="Training").click()
            group = page.locator(
                ".bk-input-group",
                has=page.get_by_text("Optimisation steps", exact=True),
            )
            box = group.locator("input").first
            box.fill("5000")  # far more than the test waits for
            box.press("Enter")
            page.wait_for_timeout(300)
            browser.button(page, "Train").click()
            page.get_by_text("Training: step").first.wait_for(timeout=60000)
            theta1 = wait_for_change(page, JS_THETA, None, None, timeout=60)
            theta2 = wait_for_change(page, JS_THETA, None, theta1, timeout=60)
            assert len(theta2["x"]) >= len(theta1["x"]) and "hX" in theta2
            page.locator(".bk-tab", has_text="Moments").click()
            # the learned curve follows the training live
            learned = [wait_for_change(page, JS_CURVE, "DBD learned", None, timeout=60)]
            for _ in range(2):
                learned.append(
                    wait_for_change(
                        page, JS_CURVE, "DBD learned", learned[-1], timeout=60
                    )
                )
            assert learned[0]["t"][0] == 0
            assert learned[-1]["y"] != learned[-2]["y"] != learned[0]["y"]
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "jupyter_explorer_training.png"))

            # Stop: the training ends (the status says so, Train is enabled again) and
            # theta(t) stops changing
            phase[0] = "stop"
            page.locator(".bk-tab", has_text="Training").click()
            page.locator("button:enabled", has_text="Stop").last.click()
            page.get_by_text("Training stopped").first.wait_for(timeout=45000)
            page.locator("button:enabled", has_text="Train").first.wait_for(
                timeout=10000
            )
            frozen = page.evaluate(JS_THETA)
            page.wait_for_timeout(1500)
            assert page.evaluate(JS_THETA) == frozen

            state = notebook_state(page)
            assert python_failures(state) == []
            assert layout_warnings(state) == []
            assert browser.external_urls(page) == []
            assert errors == []
            assert foreign == []
            assert sockets and all(u.startswith(own) for u in sockets)
        finally:
            _write_diagnostics(page, lab, console)
        page.close()
