"""The notebook side of the UI without a browser: the explorer, a session made from
a cell's ensemble, the drain that leaves the loop free between calls, and the
filter of stale change events (tests/test_jupyter.py drives them in JupyterLab)."""

from __future__ import annotations

import asyncio
import time

import pytest

pn = pytest.importorskip("panel")

from bokeh.document import Document  # noqa: E402
from bokeh.models import Div, Row  # noqa: E402

from dbdviz.config import LatticeLV  # noqa: E402
from dbdviz.simulate import simulate  # noqa: E402
from dbdviz.ui.jobs import LoopPoller  # noqa: E402
from dbdviz.ui.notebook import Explorer, _drop_stale_events, session_for  # noqa: E402


def test_explorer_shows_the_settings_and_the_tabs():
    ex = Explorer("demo")
    assert ex.session is ex.app.session and ex.session.config.size == 20
    root = pn.panel(ex).get_root(Document())
    labels = {getattr(m, "label", None) for m in root.select({})}
    assert {"Simulate", "Train"} <= labels
    assert ex.shutdown() == []


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
