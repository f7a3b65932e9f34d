"""Dashboard components driven through their params (no browser, no server).

Outside a server there is no event loop for the periodic drain callback, so the tests
call ``Job.wait()``/``Job.poll()`` themselves, exactly what the callback does.
"""

from __future__ import annotations

import io
import threading
import time
import types

import numpy as np
import pytest

pn = pytest.importorskip("panel")
hv = pytest.importorskip("holoviews")

from dbdviz.moments import OBSERVABLES, read_moment_table  # noqa: E402
from dbdviz.ui import plots  # noqa: E402
from dbdviz.ui.app import App, create_app  # noqa: E402
from dbdviz.ui.explorer import (  # noqa: E402
    TRAINING_UNAVAILABLE,
    LatticeView,
    MomentsView,
    Session,
    TrainingPanel,
    is_paper_config,
    trainer_class,
)
from dbdviz.ui.jobs import Job, JobState, active_jobs  # noqa: E402

SMALL = dict(
    size=10, init_x=12, init_y=8, steps=40, replicates=6, seed=3, snapshots=True
)


def small_app(**changes) -> App:
    app = App("demo")
    app.session.config.param.update(**{**SMALL, **changes})
    return app


@pytest.fixture(scope="module")
def simulated() -> App:
    app = small_app()
    job = app.model.simulate()
    assert job is not None
    assert job.wait(120) == JobState.FINISHED, app.model.alert.object
    return app


# -- plots: pure builders ------------------------------------------------------------


def test_confidence_band_is_mean_plus_minus_z_se():
    t = np.arange(4.0)
    mean = np.array([1.0, 2.0, 3.0, 4.0])
    se = np.array([0.0, 0.5, 1.0, np.nan])
    band = plots.confidence_band(t, mean, se, "X")
    assert [d.name for d in band.kdims] == ["t"]
    assert [d.name for d in band.vdims] == ["X", "X_upper"]
    np.testing.assert_array_equal(
        band.dimension_values("X"), mean - 1.96 * np.nan_to_num(se)
    )
    np.testing.assert_array_equal(
        band.dimension_values("X_upper"), mean + 1.96 * np.nan_to_num(se)
    )


def test_lattice_colors_exact():
    frame = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    rgb = plots.lattice_colors(frame)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 0]) == plots.SPECIES_COLORS["empty"]
    assert tuple(rgb[0, 1]) == plots.SPECIES_COLORS["X"]
    assert tuple(rgb[1, 0]) == plots.SPECIES_COLORS["Y"]
    img = plots.lattice_rgb(frame, "t = 0")
    assert isinstance(img, hv.RGB)
    with pytest.raises(ValueError):
        plots.lattice_colors(np.zeros(3))


def test_theta_and_errors_overlays():
    theta = np.arange(12.0).reshape(4, 3)
    ov = plots.theta_overlay(np.arange(4.0), theta, ["a", "b", "c"])
    assert list(ov.keys()) == ["a", "b", "c"]
    np.testing.assert_array_equal(ov["b"].dimension_values("theta"), theta[:, 1])
    er = plots.errors_overlay(
        {"step": np.array([1.0, 2.0]), "X": np.array([0.5, 0.25])}
    )
    assert len(er) == 1
    np.testing.assert_array_equal(er.values()[0].dimension_values("error"), [0.5, 0.25])


# -- the job machinery ---------------------------------------------------------------


def _collect_job(work):
    got, done = [], []
    job = Job("test", work, got.extend, lambda s, e: done.append((s, e)))
    return job, got, done


def test_job_delivers_records_in_order_then_done():
    def work(cancel, emit):
        emit("first")
        yield from ["a", "b", "c"]

    job, got, done = _collect_job(work)
    assert job.start().wait(10) == JobState.FINISHED
    assert got == ["first", "a", "b", "c"]
    assert done == [(JobState.FINISHED, None)]
    assert job.join(5)


def test_job_stop_cancels_a_running_worker():
    started = threading.Event()

    def work(cancel, emit):
        n = 0
        while True:  # would run forever without Stop
            started.set()
            n += 1
            yield n
            time.sleep(0.005)

    job, got, done = _collect_job(work)
    job.start()
    assert started.wait(10)
    assert "test" in active_jobs()
    job.stop()
    assert job.wait(10) == JobState.CANCELLED
    assert job.join(5) and "test" not in active_jobs()
    assert got == list(range(1, len(got) + 1))


def test_job_failure_is_reported_not_raised():
    def work(cancel, emit):
        emit(1)
        raise RuntimeError("boom")

    job, got, done = _collect_job(work)
    assert job.start().wait(10) == JobState.FAILED
    assert got == [1]
    assert done[0][0] == JobState.FAILED and "boom" in done[0][1]


# -- model panel, moments view -------------------------------------------------------


def test_simulate_fills_session_and_plots(simulated):
    s = simulated.session
    ens, sim = s.ensemble, s.simulation
    assert ens.observables.shape == (6, 41, len(OBSERVABLES))
    assert sim.n == 6
    np.testing.assert_array_equal(sim.mean["X"], ens.observables[:, :, 0].mean(axis=0))
    assert sim.mean["X"][0] == 12 and sim.mean["Y"][0] == 8
    assert simulated.model.progress.value == simulated.model.progress.max == 6
    assert not simulated.model.simulate_button.disabled
    assert simulated.model.stop_button.disabled
    # the data behind the moment plot
    view = simulated.moments
    view.param.update(observable="nnXY", curves=["simulation", "band"])
    fig = view.plot_pane.object
    curves = [el for el in fig if type(el) is hv.Curve]
    areas = [el for el in fig if isinstance(el, hv.Area)]
    assert len(curves) == 1 and len(areas) == 1
    np.testing.assert_allclose(curves[0].dimension_values("nnXY"), sim.mean["nnXY"])
    np.testing.assert_allclose(
        areas[0].dimension_values("nnXY_upper"),
        sim.mean["nnXY"] + 1.96 * sim.sd["nnXY"] / np.sqrt(6),
    )
    np.testing.assert_array_equal(curves[0].dimension_values("t"), ens.t)


def test_closures_are_overlaid_when_available(simulated):
    s, view = simulated.session, simulated.moments
    if not s.closures:
        pytest.skip(f"closures backend not available: {s.closure_errors}")
    view.param.update(observable="X", curves=["simulation", "mean-field", "pair"])
    labels = {el.label for el in view.plot_pane.object}
    for key in s.closures:
        assert {"mean-field": "mean field", "pair": "pair approximation"}[key] in labels
    mf = s.closures["mean-field"]
    curve = [el for el in view.plot_pane.object if el.label == "mean field"][0]
    np.testing.assert_allclose(curve.dimension_values("X"), mf.mean["X"])
    assert "mean field" in view.nrmse_pane.object  # the NRMSE readout row
    # one click on the button group hides every closure
    view.curves = ["simulation"]
    assert {el.label for el in view.plot_pane.object} == {"simulation mean (n=6)"}


def test_replicate_spread_is_quantiles(simulated):
    view = simulated.moments
    view.param.update(observable="Y", curves=["spread"])
    area = [el for el in view.plot_pane.object if isinstance(el, hv.Area)][0]
    obs = simulated.session.ensemble.observables[:, :, 1].astype(float)
    np.testing.assert_allclose(
        area.dimension_values("Y"), np.quantile(obs, 0.05, axis=0)
    )
    np.testing.assert_allclose(
        area.dimension_values("Y_upper"), np.quantile(obs, 0.95, axis=0)
    )


def test_reference_curve_only_for_paper():
    s = Session("demo")
    assert not is_paper_config(s.config)
    assert "cpp-reference" not in MomentsView(s).model_tables()
    assert is_paper_config(Session("paper").config)


def test_bad_combination_gives_an_alert_not_an_exception():
    app = small_app()
    app.session.config.param.update(size=4)  # 12 + 8 > 16 sites
    assert app.model.alert.visible
    assert "init_x + init_y" in app.model.alert.object
    assert app.model.simulate() is None
    assert app.session.ensemble is None
    app.session.config.init_x = 2
    assert not app.model.alert.visible
    # widget bounds come from the param bounds
    w = app.model.settings._widgets["predation"]
    assert (w.start, w.end) == (0.0, 1.0)


def test_preset_selector_loads_values():
    app = small_app()
    app.model.preset.value = "paper"
    cfg = app.session.config
    assert (cfg.size, cfg.init_x, cfg.steps, cfg.replicates) == (40, 100, 500, 100)
    assert not app.model.alert.visible


def test_stop_cancels_a_long_simulation():
    app = small_app(
        size=40, init_x=100, init_y=100, steps=2000, replicates=5000, snapshots=False
    )
    job = app.model.simulate()
    time.sleep(0.3)
    assert job.running
    app.model.stop()
    assert job.wait(10) == JobState.CANCELLED
    assert job.join(5)
    assert app.session.ensemble is None
    assert "Stopped" in app.model.status.object
    assert not app.model.simulate_button.disabled


def test_session_shutdown_stops_its_jobs():
    app = small_app(
        size=40, init_x=100, init_y=100, steps=2000, replicates=5000, snapshots=False
    )
    job = app.model.simulate()
    time.sleep(0.2)
    assert app.shutdown() == ["simulate"]
    assert not job.alive


# -- lattice view --------------------------------------------------------------------


def test_lattice_view_streams_snapshots(simulated):
    view: LatticeView = simulated.lattice
    snaps = simulated.session.ensemble.snapshots
    view.replicate.value = 2
    view.time.value = 17
    frame, title = view.pipe.data
    np.testing.assert_array_equal(frame, snaps[2, 17])
    assert title == "replicate 2, t = 17"
    assert view.replicate.end == 5 and view.time.end == 40


# -- training panel ------------------------------------------------------------------


def test_train_without_backend_shows_message():
    if trainer_class() is not None:
        pytest.skip("dbdviz.dbd.Trainer exists")
    panel = TrainingPanel(Session("demo"))
    assert panel.alert.visible and panel.alert.object == TRAINING_UNAVAILABLE
    assert panel.train() is None
    assert "not available yet" in panel.alert.object


def test_training_records_stream_into_pipe_and_buffer(simulated):
    """The live-plot path of Train, fed by a worker yielding records of the planned
    ``Trainer.step()`` shape (the trainer itself is not needed for this)."""
    sim = simulated.session.simulation
    P = 3

    def work(cancel, emit):
        for step in range(1, 6):
            yield types.SimpleNamespace(
                step=step,
                opt_steps=5,
                window=(step, step + 2),
                horizon=step + 2,
                theta=np.full((step + 3, P), float(step)),
                param_names=["hX", "hY", "w"],
                moments=sim.slice(t_max=step + 2),
                errors={"X": 1.0 / step, "Y": 2.0},
            )

    session = Session("demo")
    session.param.update(simulation=sim, sim_config=simulated.session.sim_config)
    panel = TrainingPanel(session)
    job = panel.train(work=work)
    assert job.wait(20) == JobState.FINISHED
    assert panel.theta_pipe.data["theta"].shape == (8, P)
    np.testing.assert_array_equal(panel.errors_buffer.data["step"], [1, 2, 3, 4, 5])
    np.testing.assert_allclose(panel.errors_buffer.data["X"], 1.0 / np.arange(1, 6))
    assert session.learned is not None and session.learned.t[-1] == 7
    assert panel.progress.value == 100
    # the learned curve reaches the moments view of the same session
    view = MomentsView(session, curves=["dbd"])
    assert [el.label for el in view.plot_pane.object] == ["DBD learned"]


# -- export --------------------------------------------------------------------------


def test_export_downloads(simulated):
    ex = simulated.export
    ex.table.value = "simulation"
    table = read_moment_table(ex.table_csv().getvalue().decode())
    np.testing.assert_allclose(
        table.mean["nnXX"], simulated.session.simulation.mean["nnXX"]
    )
    html = ex.figure_html().getvalue()
    assert b"<html" in html[:2000].lower() and b"Bokeh" in html
    from dbdviz.simulate import Ensemble

    buf = ex.ensemble_npz()
    path = io.BytesIO(buf.getvalue())
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "e.npz"
        p.write_bytes(path.getvalue())
        ens = Ensemble.load(p)
    np.testing.assert_array_equal(
        ens.observables, simulated.session.ensemble.observables
    )


# -- app -----------------------------------------------------------------------------


def test_app_instances_do_not_share_state():
    a, b = create_app(), create_app()
    assert a.title == "dbdviz"
    sa, sb = a.app.session, b.app.session
    assert sa is not sb and sa.config is not sb.config
    assert sa.preset_name == "paper" and is_paper_config(sa.config)
    sa.config.param.update(**SMALL)
    assert sb.config.size == 40
    job = a.app.model.simulate()
    assert job.wait(60) == JobState.FINISHED
    assert sa.simulation is not None and sb.simulation is None
    assert b.app.moments.plot_pane.object is not a.app.moments.plot_pane.object
    labels = [
        w.label if "label" in w.param else w.name
        for w in (
            a.app.model.simulate_button,
            a.app.model.stop_button,
            a.app.training.train_button,
        )
    ]
    assert labels == ["Simulate", "Stop", "Train"]
