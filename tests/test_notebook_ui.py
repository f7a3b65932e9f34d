"""The notebook side of the UI without a browser: the explorer, a session made from
a cell's ensemble, the drain that leaves the loop free between calls, and the
filter of stale change events (tests/test_jupyter.py drives them in JupyterLab)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import types

import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from bokeh.models import Div, Row  # noqa: E402
from pyviz_comms import Comm  # noqa: E402

from dbdviz.config import LatticeLV  # noqa: E402
from dbdviz.simulate import simulate  # noqa: E402
from dbdviz.ui import notebook as NB  # noqa: E402
from dbdviz.ui.jobs import LoopPoller  # noqa: E402
from dbdviz.ui.notebook import (  # noqa: E402
    Explorer,
    _drop_stale_events,
    extension,
    session_for,
)


def test_explorer_shows_the_settings_and_the_tabs():
    ex = Explorer("demo")
    assert ex.session is ex.app.session and ex.session.config.size == 20
    root = pn.panel(ex).get_root(Document())
    labels = {getattr(m, "label", None) for m in root.select({})}
    assert {"Simulate", "Train"} <= labels
    assert ex.shutdown() == []


def test_the_explorer_renders_without_layout_warnings(caplog):
    """The regime map's plot (stretch_both) made Panel override the explorer's
    layouts to stretch_both, printing a warning per layout into the notebook."""
    with caplog.at_level(logging.WARNING):
        Explorer("demo").__panel__().get_root(Document())
    assert [r.getMessage() for r in caplog.records if "sizing" in r.getMessage()] == []


def test_session_for_holds_the_ensemble_its_moments_and_closures():
    cfg = LatticeLV(size=8, init_x=10, init_y=10, steps=20, replicates=4, seed=1)
    ens = simulate(cfg)
    s = session_for(ens)
    assert s.ensemble is ens
    for c in (s.sim_config, s.config):
        assert (c.size, c.replicates, c.steps, c.seed) == (8, 4, 20, 1)
    assert s.simulation.n == 4 and s.simulation.t.size == 21
    assert set(s.closures) | set(s.closure_errors) == {"mean-field", "pair"}
    assert session_for(ens, closures=False).closures == {}


def test_loop_poller_lets_other_callbacks_run_between_slow_calls():
    """A drain slower than its period still leaves the loop to other callbacks
    (Panel's periodic callback outside a server starved them: Stop was never
    handled)."""
    calls, others = [], []

    def slow():
        calls.append(time.perf_counter())
        time.sleep(0.05)  # longer than the period

    async def main():
        loop = asyncio.get_running_loop()
        poller = LoopPoller(loop, slow, 0.01)
        for k in range(5):
            loop.call_soon(others.append, k)
            await asyncio.sleep(0.03)
        poller.stop()
        n = len(calls)
        await asyncio.sleep(0.1)
        return n

    n_at_stop = asyncio.run(main())
    assert others == [0, 1, 2, 3, 4]
    assert 2 <= len(calls) == n_at_stop  # ran, and not after stop()


def test_stale_change_events_are_dropped_before_sending():
    doc = Document()
    old, new = Div(text="a"), Div(text="b")
    row = Row(children=[old])
    doc.add_root(row)
    doc.hold("combine")
    old.text = "changed"  # queued for a model ...
    row.children = [new]  # ... that then leaves the document
    new.text = "kept"
    assert _drop_stale_events(doc) == 1
    kinds = [(type(e).__name__, e.model.id) for e in doc.callbacks._held_events]
    assert ("ModelChangedEvent", old.id) not in kinds
    assert ("ModelChangedEvent", new.id) in kinds and len(kinds) == 2


class RecordingComm(Comm):
    """A pyviz_comms ``Comm`` that keeps what Panel sends (Panel's ``send`` writes
    a Bokeh message as several parts; every part is kept, as text)."""

    def __init__(self):
        super().__init__()
        self._comm = True  # "open": Panel's push sends at once
        self.parts: list[str] = []

    def send(self, data=None, metadata=None, buffers=()):
        if data is not None:
            self.parts.append(str(data))


def _browser_patch(model, attr, value) -> dict:
    """A PATCH-DOC message as Panel's CommManager sends it from the browser."""
    return {
        "header": {"msgid": "1", "msgtype": "PATCH-DOC"},
        "metadata": {},
        "content": {
            "events": [
                {
                    "kind": "ModelChanged",
                    "model": {"id": model.id},
                    "attr": attr,
                    "new": value,
                }
            ]
        },
        "_buffers": {},
    }


def _render(viewable):
    """``viewable`` rendered as a notebook output: (root model, document, comm)."""
    from panel.io.model import add_to_doc
    from panel.models.comm_manager import CommManager

    extension()
    doc, comm = Document(), RecordingComm()
    root = viewable.get_root(doc, comm)
    add_to_doc(root, doc)
    manager = CommManager(comm_id=comm.id, plot_id=root.ref["id"])
    return root, doc, comm, manager


def test_browser_messages_are_handled_on_the_kernels_main_thread():
    """JupyterLab 4.6 sends comm messages on a kernel subshell (another thread);
    the explorer's callbacks and drains must not run on two threads at once."""
    text = pn.widgets.TextInput(value="a")
    seen = []
    text.param.watch(
        lambda e: seen.append((e.new, threading.current_thread())), "value"
    )

    async def main():
        root, _doc, _comm, manager = _render(text)
        NB._MAIN["loop"] = asyncio.get_running_loop()
        msg = _browser_patch(root, "value", "from the browser")
        worker = threading.Thread(
            target=text._on_msg, args=(root.ref["id"], manager, msg)
        )
        worker.start()
        worker.join()
        assert seen == []  # not handled on the worker
        for _ in range(50):
            await asyncio.sleep(0.01)
            if seen:
                break

    try:
        asyncio.run(main())
    finally:
        NB._MAIN.pop("loop", None)
    assert seen == [("from the browser", threading.main_thread())]


def test_kernel_changes_held_when_a_browser_message_arrives_are_sent():
    """Panel's handler unholds the document: changes the kernel had made and not
    yet sent were dropped (the output then diverged from the kernel)."""
    text = pn.widgets.TextInput(value="a")
    div = Div(text="before")
    col = pn.Column(text, pn.pane.Bokeh(div))
    root, doc, comm, manager = _render(col)
    doc.hold("combine")
    div.text = "changed in the kernel"  # held, not pushed
    comm.parts.clear()
    text_model = root.select_one({"type": type(text._models[root.ref["id"]][0])})
    col._on_msg(root.ref["id"], manager, _browser_patch(text_model, "value", "b"))
    assert text.value == "b"
    sent = "".join(comm.parts)
    assert "changed in the kernel" in sent


def test_comm_messages_from_a_subshell_wait_for_their_comm_on_the_main_loop():
    """JupyterLab sends a comm's comm_open to the main shell (queued behind running
    cells) and its messages to a subshell (another thread): ipykernel dropped the
    messages that came before the comm was open ("no such comm")."""
    from comm.base_comm import BaseComm, CommManager

    class Comm(BaseComm):
        def publish_msg(self, *args, **kwargs):  # no kernel to publish to
            pass

    manager = CommManager()
    seen = []
    kernel = types.SimpleNamespace(
        comm_manager=manager, shell_handlers={"comm_msg": manager.comm_msg}
    )

    def msg(k):
        return {"content": {"comm_id": "c1", "data": {"k": k}}}

    async def main():
        loop = asyncio.get_running_loop()
        NB._install_kernel_comm_routing(loop, kernel)
        handler = kernel.shell_handlers["comm_msg"]
        for k in range(3):  # on a subshell's thread, before comm_open
            t = threading.Thread(target=handler, args=(None, [], msg(k)))
            t.start()
            t.join()
        await asyncio.sleep(0.1)
        assert seen == []  # queued, not dropped
        comm = Comm(comm_id="c1", primary=False, target_name="t")
        comm.on_msg(lambda m: seen.append((m["content"]["data"]["k"], _thread())))
        manager.register_comm(comm)  # the main shell handles comm_open
        handler(None, [], msg(3))  # a later message on the main shell: after them
        for _ in range(50):
            await asyncio.sleep(0.02)
            if len(seen) == 4:
                break

    asyncio.run(main())
    main_thread = threading.main_thread()
    assert seen == [(k, main_thread) for k in range(4)]


def _thread():
    return threading.current_thread()
