"""The regime map component, driven through its methods and params, on a real
LocalCluster (two worker processes); the browser test is in
``test_browser_regime_map.py``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel")
pytest.importorskip("distributed")

from dbdviz.sweeps import sweep  # noqa: E402
from dbdviz.ui.cluster import SharedCluster  # noqa: E402
from dbdviz.ui.components.regime_map import MAP_LAYERS, RegimeMap  # noqa: E402
from dbdviz.ui.jobs import JobState  # noqa: E402
from dbdviz.ui.session import Session  # noqa: E402

TINY = dict(size=10, init_x=12, init_y=12, steps=40, seed=3)


@pytest.fixture(scope="module")
def cluster():
    c = SharedCluster("local", n_workers=2).start()
    yield c
    c.close()


def _map(cluster, **grid):
    session = Session()
    session.config.param.update(**TINY)
    m = RegimeMap(session, cluster=cluster)
    settings = dict(
        x_start=0.02, x_stop=0.06, x_cells=3, y_start=0.04, y_stop=0.2, y_cells=2
    )
    m.param.update(**{**settings, "replicates": 12, **grid})
    return m


def test_map_fills_cell_by_cell_and_equals_the_sweep(cluster):
    m = _map(cluster)
    job = m.run()
    assert job is not None and m.cancel_button.disabled is False
    assert job.wait(timeout=300) == JobState.FINISHED, job.error
    assert m.cells_done == 6 and m.first_cell_seconds is not None
    assert "Map done: 6 cells" in m.status.object
    assert not m.run_button.disabled and m.cancel_button.disabled
    ref = sweep(
        m.session.config.copy(replicates=12, snapshots=False),
        {"birth": [0.02, 0.04, 0.06], "death": [0.04, 0.2]},
    )
    for label, (names, _) in MAP_LAYERS.items():
        want = np.mean([ref[n].values for n in names], axis=0).T
        np.testing.assert_array_equal(m.layer_values(label), want)
    xs, ys, z, xname, yname, label, clim = m.pipe.data
    assert (xname, yname) == ("birth", "death") and z.shape == (2, 3)
    assert np.isfinite(z).all() and clim == (0.0, 1.0)
    # another layer redraws from the same results
    m.layer = "Pair-approximation error (NRMSE of X and Y)"
    np.testing.assert_array_equal(
        m.pipe.data[2], m.layer_values("Pair-approximation error (NRMSE of X and Y)")
    )


def test_click_loads_the_cell_and_moves_the_marker(cluster):
    m = _map(cluster)
    assert m.run().wait(timeout=300) == JobState.FINISHED
    m.tap.event(x=0.041, y=0.17)  # inside cell (0.04, 0.2)
    cfg = m.session.config
    assert (cfg.birth, cfg.death) == (0.04, 0.2)
    assert m.marker_pipe.data[:2] == (0.04, 0.2)
    assert "Loaded birth = 0.04, death = 0.2" in m.status.object
    cfg.death = 0.1  # the model panel moves the marker too
    assert m.marker_pipe.data[:2] == (0.04, 0.1)


def test_cancel_stops_the_map(cluster):
    m = _map(cluster, x_cells=12, y_cells=10, replicates=64)
    m.session.config.steps = 300
    job = m.run()
    while job.running and m.cells_done == 0:
        job.poll()
        job.join(0.05)
    m.cancel()
    assert job.wait(timeout=120) == JobState.CANCELLED
    assert 0 < m.cells_done < 120
    assert f"Cancelled after {m.cells_done} of 120 cells" in m.status.object
    assert not m.run_button.disabled and m.cancel_button.disabled
    # the cluster is free again: a small map runs at once
    assert _map(cluster).run().wait(timeout=300) == JobState.FINISHED


@pytest.mark.parametrize(
    ("steps", "needle"),
    [
        ([dict(y_param="birth")], "two different rates"),
        ([dict(x_param="predation"), dict(x_stop=2.0)], "predation = 2"),
        ([dict(x_cells=1)], "N = 1 needs START = STOP"),
    ],
)
def test_bad_settings_show_an_alert(cluster, steps, needle):
    m = _map(cluster)
    for change in steps:  # a new rate resets its range: then the bad value
        m.param.update(**change)
    assert m.run() is None and m.job is None
    assert m.alert.visible and needle in m.alert.object
