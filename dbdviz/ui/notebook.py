"""The explorer in Jupyter: :func:`extension` and :class:`Explorer`.

In a notebook (JupyterLab, Notebook 7), call :func:`extension` once, then display
:class:`Explorer` (the whole dashboard as one output) or any component of
:mod:`dbdviz.ui.components` bound to a :class:`~dbdviz.ui.session.Session`
(:func:`session_for` makes one from an ensemble simulated in a cell).

:func:`extension` makes the notebook work offline and makes updates from the
background jobs reliable:

- Panel's JavaScript and CSS are put inline into the notebook
  (``pn.extension(inline=True)``); stylesheets of models created after the first
  render (a new figure, a Markdown pane's new text) are loaded from the Jupyter
  server (Panel's server extension serves them at ``<base_url>/panel_dist/``),
  never from Panel's CDN.
- Panel's notebook channel (its ``CommManager`` model in the browser) sends every
  change back to the kernel, including the changes the kernel itself just sent.
  Bokeh's server client drops those (``event.sync`` is false for them). Echoed,
  a figure that the kernel has already replaced again (a simulation's curves
  arrive in quick succession) comes back as an unknown model: decoding it fails
  (``Patch.line_alpha``) and pyviz_comms prints the traceback into the output,
  and the kernel's document can take the stale figure back. The script that
  :func:`extension` publishes drops those events, as Bokeh's client does.

- Panel's channel also sends the browser's changes of a debounce interval in one
  message. The kernel drops a whole message that names a model it has already
  removed (Bokeh: "Dropping a patch because it contains a previously known
  reference"), e.g. the new size of a figure replaced meanwhile: a button click
  in the same message was lost (Stop did not stop a training, whose drains
  replace figures all the time). The script sends one event per message, as
  Bokeh's server client does, so only the stale change is dropped.
- Panel keeps a notebook output's document "held" (changes are combined and sent
  by the next push). When a figure is replaced twice between two pushes (a
  view's refresh, then Panel linking the new figure's axes to its neighbours),
  the combined change of the layout names only the last figure, but the changes
  made to the intermediate one are still queued: the browser receives changes of
  a model it never got ("reference ... isn't known"), drops the whole message
  (and the new models it defined), and from then on the output diverges from the
  kernel. :func:`extension` makes Panel's notebook push drop queued changes of
  models that have left the document before it sends them.

- JupyterLab 4.6 sends comm messages to a kernel subshell (ipykernel 7 runs it
  on a thread of its own; which messages go there depends on the reply routing),
  so Panel handled some button clicks and resizes on that thread while the jobs'
  drains changed the same documents on the main thread: a drain's held changes
  were dispatched (and forgotten) by the other thread's ``doc.unhold()``, a job
  started by a click drained on the subshell's loop, and now and then Simulate's
  curves, 'Training: step' or the live learned curve never reached the browser
  (the test passed 6 of 10 runs). :func:`extension` makes Panel hand every
  browser message to the kernel's main loop. Worse, under load: JupyterLab sends a
  comm's ``comm_open`` to the main shell (queued behind the running cells of "Run
  All") and its messages to the subshell once that exists; messages that reached
  the kernel before the ``comm_open`` was handled were dropped ("no such comm"),
  and the browser's CommManager, waiting for their acknowledgements, held back
  the next click (Simulate never reached the kernel: 2 of 8 runs at load 11-13).
  :func:`extension` therefore also routes the kernel's ``comm_msg`` handler: a
  message of one of Panel's comms, or of a comm not open yet, that arrives on a
  subshell is queued and delivered on the main loop, in order, once its
  ``comm_open`` has been handled (other comms, e.g. ipywidgets, stay on their
  subshells).
- Panel applies a browser message in a hold and ends it with ``doc.unhold()``,
  which runs the callbacks of the held changes and forgets the changes: those the
  kernel had made and not yet sent, and those made by callbacks while the message
  was applied (a range change redrawing a curve's data), never reached the
  browser. The handler now sends them first.

- Outside a server, the jobs drain their records with
  :class:`dbdviz.ui.jobs.LoopPoller` (each drain a callback of its own, so a Stop
  click is handled between two drains) inside
  :func:`dbdviz.ui._compat.batched_updates` (the outputs' documents frozen and
  held: one model recomputation and one message per drain).

With these, Simulate, Train and Stop work in a notebook as in the served app
(``tests/test_jupyter.py``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import panel as pn
from panel.viewable import Viewer

from .app import App
from .session import Session

__all__ = ["extension", "Explorer", "session_for", "NOTEBOOK_JS"]

#: Run once in the notebook page (see the module docstring). Waits for BokehJS and
#: Panel's models, then (1) drops document events that were applied from the
#: kernel (``sync === false``) before Panel's CommManager sends them back, (2) sends
#: each remaining event in a message of its own, as Bokeh's server client does, and
#: (3) rewrites stylesheet URLs on Panel's CDN to the Jupyter server's
#: ``panel_dist/``.
NOTEBOOK_JS = r"""
(function () {
  if (window.__dbdviz_notebook) { return; }
  let base = '/';
  try {
    const el = document.getElementById('jupyter-config-data');
    if (el) { base = JSON.parse(el.textContent).baseUrl || '/'; }
  } catch (e) { /* not a Jupyter page: keep '/' */ }
  if (!base.endsWith('/')) { base += '/'; }
  const LOCAL = base + 'panel_dist/';
  const CDN = /^https?:\/\/cdn\.holoviz\.org\/panel\/[^/]+\/dist\//;
  const install = function () {
    const M = window.Bokeh && window.Bokeh.Models;
    if (!M) { return false; }
    const CM = M['panel.models.comm_manager.CommManager'];
    const IS = M['ImportedStyleSheet'];
    if (!CM || !IS) { return false; }
    const changed = CM.prototype._document_changed;
    CM.prototype._document_changed = function (event) {
      if (event && event.sync === false) { return; }
      return changed.call(this, event);
    };
    const process = CM.prototype.process_events;
    CM.prototype.process_events = function () {
      const events = this._event_buffer || [];
      if (events.length <= 1) { return process.call(this); }
      for (const event of events) {
        this._event_buffer = [event];
        process.call(this);
      }
      this._event_buffer = [];
    };
    const underlying = IS.prototype.underlying;
    IS.prototype.underlying = function () {
      const sheet = underlying.call(this);
      const href = sheet && sheet.el ? sheet.el.getAttribute('href') : null;
      if (href && CDN.test(href)) {
        sheet.el.setAttribute('href', href.replace(CDN, LOCAL));
      }
      return sheet;
    };
    window.__dbdviz_notebook = true;
    return true;
  };
  if (!install()) {
    let tries = 0;
    const id = setInterval(function () {
      if (install() || ++tries > 1200) { clearInterval(id); }
    }, 50);
  }
})();
"""


#: Change events that target one model (the rest: roots, title, messages).
_MODEL_EVENTS = (
    "ModelChangedEvent",
    "ColumnDataChangedEvent",
    "ColumnsStreamedEvent",
    "ColumnsPatchedEvent",
)


def _live_events(doc, events) -> list:
    """``events`` without the change events of models no longer in ``doc``."""
    return [
        e
        for e in events
        if type(e).__name__ not in _MODEL_EVENTS
        or getattr(e, "model", None) is None
        or e.model.id in doc.models
    ]


def _drop_stale_events(doc) -> int:
    """Drop the queued (held) change events of ``doc`` whose model is no longer in
    it; return how many were dropped."""
    held = doc.callbacks._held_events
    live = _live_events(doc, held)
    if len(live) != len(held):
        doc.callbacks._held_events = live
    return len(held) - len(live)


def _install_stale_event_filter() -> None:
    """Make Panel's notebook push (``panel.io.notebook.diff``) skip changes of
    models that left the document (see the module docstring). Idempotent."""
    from panel.io import notebook as nb

    diff = getattr(nb, "diff", None)
    if diff is None or getattr(diff, "_dbdviz", False):
        return

    def diff_without_stale(doc, binary=True, events=None):
        if events is None:
            _drop_stale_events(doc)
        return diff(doc, binary=binary, events=events)

    diff_without_stale._dbdviz = True
    nb.diff = diff_without_stale


#: The kernel's main asyncio loop (set by :func:`extension`, run on the main thread).
_MAIN: dict[str, Any] = {}


def _push_unsent(doc, comm) -> None:
    """Send the changes the kernel has made to ``doc`` and not sent yet."""
    from panel.io.notebook import push
    from panel.io.state import state

    if comm is not None and not state._hold:
        push(doc, comm)


def _send_kernel_changes(doc, comm) -> None:
    """Send the held changes of ``doc`` made in the kernel (not the browser's own,
    whose setter is the comm), keeping them held (for the callbacks of unhold)."""
    from bokeh.document.events import DocumentPatchedEvent
    from panel.io.notebook import send

    held = list(doc.callbacks._held_events)
    mine = [
        e
        for e in held
        if isinstance(e, DocumentPatchedEvent) and getattr(e, "setter", None) != comm.id
    ]
    if mine:
        msg = _diff(doc, events=mine)
        doc.callbacks._held_events = held
        if msg is not None:
            send(comm, msg)


def _diff(doc, events):
    """``panel.io.notebook.diff`` of ``events`` without those of models that left
    ``doc``."""
    from panel.io import notebook as nb

    live = _live_events(doc, events)
    return nb.diff(doc, events=live) if live else None


def _install_kernel_comm_routing(loop, kernel=None) -> None:
    """Deliver comm messages of Panel's comms (and of comms not yet open) that
    arrive on a kernel subshell's thread on the kernel's main ``loop``, in order,
    after their ``comm_open`` (see the module docstring). Idempotent; nothing
    outside an IPython kernel.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The kernel's main loop.
    kernel : ipykernel.kernelbase.Kernel, optional
        Default: the running IPython's kernel.
    """
    import logging
    import time

    if kernel is None:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
    handlers = getattr(kernel, "shell_handlers", None)
    manager = getattr(kernel, "comm_manager", None)
    if not isinstance(handlers, dict) or manager is None:
        return
    handle = handlers.get("comm_msg")
    if handle is None or getattr(handle, "_dbdviz", False):
        return
    from pyviz_comms import CommManager as PyVizComms

    log = logging.getLogger("dbdviz.ui")
    lock = threading.Lock()
    pending: dict[str, list] = {}  # comm id -> queued (stream, idents, msg)

    def panel_comm(comm) -> bool:
        # the comms the browser opens for Panel's outputs target a pyviz comm id
        return getattr(comm, "target_name", None) in PyVizComms._comms

    def deliver(comm_id: str, deadline: float) -> None:
        if manager.comms.get(comm_id) is None:  # its comm_open is still queued
            if time.monotonic() < deadline:
                loop.call_later(0.05, deliver, comm_id, deadline)
                return
            with lock:  # never opened: dropped, as ipykernel does
                dropped = pending.pop(comm_id, [])
            log.warning("dbdviz: %d message(s) for unknown comm dropped", len(dropped))
            return
        while True:
            with lock:
                queue = pending.get(comm_id)
                if not queue:
                    pending.pop(comm_id, None)
                    return
                item = queue.pop(0)
            try:
                handle(*item)
            except Exception:  # as ipykernel: log, keep going
                log.exception("dbdviz: comm message handler failed")

    def comm_msg(stream, idents, msg):
        comm_id = msg["content"].get("comm_id")
        if threading.current_thread() is not threading.main_thread():
            comm = manager.comms.get(comm_id)
            with lock:
                queued = comm_id in pending
                if queued or comm is None or panel_comm(comm):
                    pending.setdefault(comm_id, []).append((stream, idents, msg))
                    if not queued:
                        loop.call_soon_threadsafe(
                            deliver, comm_id, time.monotonic() + 60.0
                        )
                    return None
        else:
            with lock:
                if comm_id in pending:  # keep the order of the queued ones
                    pending[comm_id].append((stream, idents, msg))
                    return None
        return handle(stream, idents, msg)

    comm_msg._dbdviz = True
    handlers["comm_msg"] = comm_msg


def _install_comm_fixes() -> None:
    """Make Panel handle the browser's messages of a notebook output on the
    kernel's main thread, after sending what it has not sent yet (see the module
    docstring). Idempotent."""
    from panel.io.state import state
    from panel.viewable import MimeRenderMixin

    on_msg = MimeRenderMixin._on_msg
    if getattr(on_msg, "_dbdviz", False):
        return

    def handle(self, ref, manager, msg) -> None:
        view = state._views.get(ref)
        if view is None:  # the output is gone
            return
        _viewable, root, doc, comm = view
        if "embedded" in root.tags or comm is None:
            on_msg(self, ref, manager, msg)
            return
        # what the kernel changed before this message
        _push_unsent(doc, comm)
        # Panel applies the message in a hold and then calls doc.unhold(), which
        # runs the Python callbacks of the held changes and forgets them: the
        # changes those callbacks made (held, not pushed) would never be sent
        callbacks = doc.callbacks
        unhold = callbacks.unhold

        def unhold_and_send() -> None:
            _send_kernel_changes(doc, comm)
            unhold()

        callbacks.unhold = unhold_and_send
        try:
            on_msg(self, ref, manager, msg)
        finally:
            callbacks.__dict__.pop("unhold", None)

    def handle_later(self, ref, manager, msg) -> None:
        try:
            handle(self, ref, manager, msg)
        except Exception as exc:  # as pyviz_comms does: the traceback into the output
            self._on_error(ref, exc)

    def on_msg_main_thread(self, ref, manager, msg) -> None:
        loop = _MAIN.get("loop")
        if (
            loop is not None
            and threading.current_thread() is not threading.main_thread()
            and loop.is_running()
        ):
            loop.call_soon_threadsafe(handle_later, self, ref, manager, msg)
            return
        handle(self, ref, manager, msg)

    on_msg_main_thread._dbdviz = True
    MimeRenderMixin._on_msg = on_msg_main_thread


def extension(*extensions: str, **config: Any) -> None:
    """Load Panel and HoloViews for an offline notebook (call once, first).

    ``pn.extension("katex", "mathjax", *extensions, inline=True, **config)`` with
    HoloViews' Bokeh backend, then the browser-side fixes of :data:`NOTEBOOK_JS`.
    Outside IPython only the Python side is configured.

    Parameters
    ----------
    *extensions : str
        More Panel extensions to load.
    **config
        Passed to ``pn.extension`` (e.g. ``sizing_mode``).
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (HoloViews' notebook loading)

    hv.Store.set_current_backend("bokeh")
    config.setdefault("inline", True)
    pn.extension("katex", "mathjax", *extensions, **config)
    _install_stale_event_filter()
    _install_comm_fixes()
    if threading.current_thread() is threading.main_thread():
        try:
            _MAIN["loop"] = asyncio.get_running_loop()
        except RuntimeError:  # plain Python: no loop (nothing arrives from a browser)
            pass
        else:
            _install_kernel_comm_routing(_MAIN["loop"])
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:  # pragma: no cover - IPython comes with panel
        return
    if get_ipython() is None:
        return
    from panel.io.notebook import LOAD_MIME

    publish_display_data(
        {LOAD_MIME: NOTEBOOK_JS, "application/javascript": NOTEBOOK_JS}
    )


def session_for(ensemble, closures: bool = True, preset: str = "paper") -> Session:
    """A :class:`Session` holding ``ensemble`` (simulated in a cell), its moments
    and (``closures=True``) the mean-field and pair closures of its config, so that
    a component bound to it shows them at once.

    Parameters
    ----------
    ensemble : dbdviz.simulate.Ensemble
    closures : bool
    preset : str
        The session's preset name (its settings are then ``ensemble.config``).
    """
    cfg = ensemble.config.copy()
    session = Session(preset_name=preset, config=cfg.copy())
    found, errors = {}, {}
    if closures:
        from ..closures import solve

        for key in ("mean-field", "pair"):
            try:
                found[key] = solve(key, cfg)
            except Exception as exc:  # shown like the dashboard does
                errors[key] = str(exc)
    session.param.update(
        ensemble=ensemble,
        sim_config=cfg,
        simulation=ensemble.moments(),
        closures=found,
        closure_errors=errors,
    )
    return session


class Explorer(Viewer):
    """The whole dashboard as one notebook output: the settings column (model,
    Simulate/Stop, prediction, lesson) beside the tabs (moments, phase plane,
    lattice, training, hierarchy, regime map, export).

    Parameters
    ----------
    preset : str
        Name of the starting preset (``dbdviz.config.PRESETS``).
    sidebar_width : int
        Pixels of the settings column.

    Attributes
    ----------
    app : dbdviz.ui.app.App
        The components and their :class:`Session` (``app.session``); the same
        objects are reachable as attributes of the explorer (``explorer.training``).
    """

    def __init__(
        self, preset: str = "demo", sidebar_width: int = 340, **params: Any
    ) -> None:
        super().__init__(**params)
        self.app = App(preset)
        for name in (
            "session",
            "model",
            "moments",
            "lattice",
            "training",
            "predict",
            "hierarchy",
            "export",
            "regime_map",
            "phase",
            "lesson",
            "tabs",
        ):
            setattr(self, name, getattr(self.app, name))
        self._layout = pn.Row(
            pn.Column(
                self.model,
                pn.pane.Markdown("### Predict (trained model)"),
                self.predict,
                self.lesson,
                width=sidebar_width,
            ),
            self.tabs,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def shutdown(self) -> list[str]:
        """Stop the explorer's jobs; return their names."""
        return self.app.shutdown()
