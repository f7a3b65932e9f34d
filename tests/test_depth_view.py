"""The Training tab's depth comparison (issue 14): every trained depth's diagonal
(NNN) curves and errors side by side, kept in the session until the next
simulation. Real trainer, real tiny ensemble, no browser."""

from __future__ import annotations

import numpy as np
import pytest

pn = pytest.importorskip("panel")
hv = pytest.importorskip("holoviews")

from dbdviz.compare import nrmse  # noqa: E402
from dbdviz.ui.app import App  # noqa: E402
from dbdviz.ui.components.depth_view import (  # noqa: E402
    DEPTH_OBSERVABLES,
    NNN_OBSERVABLES,
)
from dbdviz.ui.jobs import JobState  # noqa: E402

TINY = dict(
    size=12, init_x=14, init_y=10, steps=20, replicates=6, seed=5, snapshots=True
)


def _train(app, depth):
    app.training.apply_depth(depth)
    app.session.dbm_config.depth = depth
    app.session.train_config.param.update(extra_end_steps=2, refine_iterations=3)
    job = app.training.train()
    assert job is not None, app.training.alert.object
    assert job.wait(180) == JobState.FINISHED, job.error


def test_trained_depths_side_by_side_and_cleared_by_a_new_simulation():
    app = App("demo")
    s = app.session
    s.config.param.update(**TINY)
    assert app.model.simulate().wait(60) == JobState.FINISHED
    view = app.training.depths
    assert view.depths == [] and "Train at one or more depths" in view.markdown()
    assert not view.pane.visible  # nothing to draw before a depth is trained
    _train(app, 0)
    first = s.evaluation.table
    _train(app, 1)
    assert view.depths == [0, 1]
    assert s.depth_results[0]["table"] is first
    assert s.depth_results[1]["table"] is s.evaluation.table
    # the errors are the NRMSE of each depth's evaluation against the simulation
    for d in (0, 1):
        want = nrmse(s.depth_results[d]["table"], s.simulation, list(DEPTH_OBSERVABLES))
        for o in DEPTH_OBSERVABLES:
            assert s.depth_results[d]["errors"][o] == pytest.approx(want[o])
    md = app.training.depths.table_pane.object
    row1 = next(r for r in md.splitlines() if r.startswith("| depth 1 |"))
    assert f"{100 * s.depth_results[1]['errors']['nnnXY']:.1f} %" in row1
    assert "| depth 0 |" in md
    # one panel per diagonal pair, each with the simulation and both depths
    assert view.pane.visible
    layout = view.pane.object
    assert len(layout) == len(NNN_OBSERVABLES)
    for panel, obs in zip(layout, NNN_OBSERVABLES, strict=True):
        labels = [c.label for c in panel]
        assert labels[0].startswith("simulation mean") and labels[1:] == [
            "depth 0",
            "depth 1",
        ], labels
        np.testing.assert_allclose(
            panel.get(2).dimension_values(1), s.depth_results[1]["table"].mean[obs]
        )
    # training a depth again replaces its result, the others stay
    _train(app, 0)
    assert view.depths == [0, 1] and s.depth_results[0]["table"] is not first
    # a new simulation clears the comparison
    s.config.seed = 6
    assert app.model.simulate().wait(60) == JobState.FINISHED
    assert s.depth_results == {} and view.depths == []
    assert "Train at one or more depths" in view.table_pane.object
    assert not view.pane.visible and view.pane.object is None
    # the figure itself still draws the simulation alone
    assert all(len(list(p)) == 1 for p in view.figure())
