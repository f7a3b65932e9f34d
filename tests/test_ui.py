"""Dashboard components driven through their params (no browser, no server).

Outside a server there is no event loop for the periodic drain callback, so the tests
call ``Job.wait()``/``Job.poll()`` themselves, exactly what the callback does.
"""

from __future__ import annotations

import copy
import io
import threading
import time
import types

import numpy as np
import pytest

pn = pytest.importorskip("panel")
hv = pytest.importorskip("holoviews")

from bokeh.palettes import Category10_10  # noqa: E402

from dbdviz.config import TrainConfig  # noqa: E402
from dbdviz.moments import OBSERVABLES, read_moment_table  # noqa: E402
from dbdviz.ui import plots  # noqa: E402
from dbdviz.ui.app import App, create_app  # noqa: E402
from dbdviz.ui.components import (  # noqa: E402
    LatticeView,
    MomentsView,
    TrainingPanel,
)
from dbdviz.ui.components.export_panel import (  # noqa: E402
    PNG_FIGURES,
    parameters_text,
)
from dbdviz.ui.jobs import Job, JobState, active_jobs  # noqa: E402
from dbdviz.ui.session import Session, is_paper_config  # noqa: E402

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


def test_lowpass_taps_for_short_runs():
    from dbdviz.dbd.procedure import lowpass_taps_for

    assert lowpass_taps_for(501) == 63 and lowpass_taps_for(189) == 63
    assert lowpass_taps_for(188) == 61 and lowpass_taps_for(21) == 7
    assert lowpass_taps_for(30) == 9 and lowpass_taps_for(8) == 0


def test_live_lines_replace_and_extend():
    from dbdviz.ui.live import LiveLines

    lines = LiveLines("t", "x", "y", log_y=True, name="errs")
    lines.reset(["a", "b"])
    fig = lines.pane.object
    assert [it.label.value for it in fig.legend[0].items] == ["a", "b"]
    lines.extend([1.0, 2.0], {"a": [0.5, 0.0], "b": [1.0, 2.0]})
    lines.extend([3.0], {"a": [0.25], "b": [4.0]})
    d = lines.source.data
    assert lines.source.name == "errs" and lines.n_rows == 3
    np.testing.assert_array_equal(d["x"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(d["a"], [0.5, np.nan, 0.25])  # log axis: 0 -> gap
    lines.replace([0.0], {"a": [7.0], "b": [8.0]})
    assert lines.n_rows == 1 and list(lines.source.data["b"]) == [8.0]
    # the same series again: same figure, data emptied
    lines.reset(["a", "b"])
    assert lines.pane.object is fig and lines.n_rows == 0
    assert all(v.size == 0 for v in lines.source.data.values())


def test_log_axes_labels_do_not_crowd():
    """The error plot's log axis had linear ticks below two decades (0.1 ... 0.7,
    the top labels overlapping): its ticks are 1-2-5 per decade, adjacent ones a
    factor >= 2 apart, covering the errors' whole range."""
    from bokeh.models import FixedTicker

    from dbdviz.ui.live import LiveLines

    ticks = np.array(plots.LOG_TICKS)
    assert np.all(ticks[1:] / ticks[:-1] >= 2.0 - 1e-12)
    assert ticks[0] <= 1e-6 and ticks[-1] >= 100
    fig = LiveLines("t", "x", "y", log_y=True).pane.object
    (axis,) = fig.yaxis
    assert isinstance(axis.ticker, FixedTicker)
    assert list(axis.ticker.ticks) == list(plots.LOG_TICKS)
    assert not isinstance(
        LiveLines("t", "x", "y").pane.object.yaxis[0].ticker, FixedTicker
    )
    over = plots.errors_overlay(
        {"step": np.arange(3.0), "a": np.array([0.5, 0.3, 0.1])}
    )
    yaxis = hv.render(over).yaxis[0]
    assert list(yaxis.ticker.ticks) == list(plots.LOG_TICKS)


def test_curve_styles_differ_without_colour():
    """Colour-blind safe (Okabe-Ito) colours, and every model curve differs from
    the others by its dash or width too (projectors, grey prints): mean field and
    pair in particular."""
    okabe_ito = {
        "#000000",
        "#E69F00",
        "#56B4E9",
        "#009E73",
        "#F0E442",
        "#0072B2",
        "#D55E00",
        "#CC79A7",
    }
    assert set(plots.CURVE_COLORS.values()) <= okabe_ito
    kinds = list(plots.CURVE_COLORS)
    looks = {k: (plots.CURVE_DASHES[k], plots._CURVE_WIDTHS.get(k, 2.0)) for k in kinds}
    assert len(set(looks.values())) == len(kinds), looks
    assert plots.CURVE_DASHES["mean-field"] != plots.CURVE_DASHES["pair"] != "solid"
    t = np.arange(3.0)
    for k in kinds:
        opts = hv.Store.lookup_options(
            "bokeh", plots.moment_curve(t, t, "X", k, k), "style"
        ).kwargs
        assert opts["line_dash"] == plots.CURVE_DASHES[k]
        assert opts["color"] == plots.CURVE_COLORS[k]


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
    fig = view.figure()
    curves = [el for el in fig if type(el) is hv.Curve]
    areas = [el for el in fig if isinstance(el, hv.Area)]
    assert len(curves) == 1 and len(areas) == 1
    np.testing.assert_allclose(curves[0].dimension_values("nnXY"), sim.mean["nnXY"])
    np.testing.assert_allclose(
        areas[0].dimension_values("nnXY_upper"),
        sim.mean["nnXY"] + 1.96 * sim.sd["nnXY"] / np.sqrt(6),
    )
    np.testing.assert_array_equal(curves[0].dimension_values("t"), ens.t)


def test_hierarchy_lesson_exact_equations_track_closure_drifts(simulated):
    """The Hierarchy view's comparison: the step's equations with the measured
    triplets track the simulated mean, the pair closure does not; the plot shows the
    three curves for the chosen observable."""
    from dbdviz.compare import nrmse
    from dbdviz.moments import MomentTable

    h = simulated.hierarchy
    assert h.lesson_pane.object is None
    h.lesson_button.clicks += 1  # the button's callback
    h._lesson()
    d = h._lesson_cache
    assert d is not None and d["n"] == min(20, simulated.session.ensemble.n_reps)
    sim = MomentTable(t=d["t"], n=None, mean=d["simulation"])
    meas = MomentTable(t=d["t"], n=None, mean=d["measured"])
    pair = MomentTable(t=d["t"], n=None, mean=d["pair"])
    obs = ["X", "Y", "nnXY"]
    e_meas, e_pair = nrmse(meas, sim, obs), nrmse(pair, sim, obs)
    # (6 replicates on 10 x 10 here; on the paper preset with 100 replicates the
    # measured-triplet curve is within 0.3-5 % NRMSE, the pair closure 78-127 % over
    # 500 steps)
    for o in obs:
        assert e_meas[o] < (0.5 if o in ("X", "Y") else 0.8) * e_pair[o], o
    np.testing.assert_allclose(d["measured"]["X"][0], d["simulation"]["X"][0])
    h.observable = "nnXY"
    labels = [el.label for el in h.lesson_pane.object]
    assert labels == [
        "simulation",
        "exact equations, measured triplets",
        "closed by pairs",
    ]
    curve = h.lesson_pane.object.get(1)
    np.testing.assert_allclose(curve.dimension_values("nnXY"), d["measured"]["nnXY"])


def test_closures_are_overlaid_when_available(simulated):
    s, view = simulated.session, simulated.moments
    assert set(s.closures) == {"mean-field", "pair"}, s.closure_errors
    view.param.update(observable="X", curves=["simulation", "mean-field", "pair"])
    labels = {el.label for el in view.figure()}
    for key in s.closures:
        assert {"mean-field": "mean field", "pair": "pair approximation"}[key] in labels
    mf = s.closures["mean-field"]
    curve = [el for el in view.figure() if el.label == "mean field"][0]
    np.testing.assert_allclose(curve.dimension_values("X"), mf.mean["X"])
    assert "mean field" in view.nrmse_pane.object  # the NRMSE readout row
    # one click on the button group hides every closure
    view.curves = ["simulation"]
    assert {el.label for el in view.figure()} == {"simulation mean (n=6)"}


def test_replicate_spread_is_quantiles(simulated):
    view = simulated.moments
    view.param.update(observable="Y", curves=["spread"])
    area = [el for el in view.figure() if isinstance(el, hv.Area)][0]
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
    # the widgets' labels, not the code names; plain text
    assert (
        "Initial X + Initial Y = 20 exceeds the number of sites "
        "Lattice side L squared = 16" in app.model.alert.object
    )
    assert "init_x" not in app.model.alert.object
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


def test_inputs_take_the_full_range_and_report_rejected_values():
    """Steps and Replicates up to the parameter's bounds (10**6), not the soft 2000;
    a value out of range is reported with the widget's label and the allowed range,
    the box shows the value in use again; text is plain (no Markdown)."""
    app = small_app()
    w = app.model.settings._widgets
    cfg = app.session.config
    for name in ("steps", "replicates"):
        assert (w[name].start, w[name].end) == (None, None)  # no silent clamping
        w[name].value = 1_000_000
        assert getattr(cfg, name) == 1_000_000
    assert w["size"].fixed_end == 1000 and w["init_x"].fixed_end is None
    w["size"].value = 500  # beyond the slider's soft end, within the bounds
    assert cfg.size == 500
    w["size"].value, w["replicates"].value = 10, 6  # snapshots within 8 GiB again
    assert not app.model.alert.visible
    w["steps"].value = -5
    assert cfg.steps == 1_000_000 and w["steps"].value == 1_000_000
    alert = app.model.alert
    assert alert.visible and alert.alert_type == "warning"
    assert alert.object == (
        "Steps: -5 rejected, allowed \\[1, 1000000\\]; 1000000 is kept."
    )
    w["seed"].value = -1
    assert "Seed: -1 rejected" in alert.object and cfg.seed == 3
    w["steps"].value = 40  # a valid value clears the report
    assert not alert.visible
    # training settings too
    panel = app.training
    panel.train_settings._widgets["opt_steps"].value = -1
    assert panel.alert.visible and panel.alert.object.startswith(
        "Optimisation steps: -1 rejected"
    )


def test_messages_are_plain_text():
    from dbdviz.ui.messages import in_labels, plain

    assert plain("4**9 = 262144 _x_") == "4\\*\\*9 = 262144 \\_x\\_"
    md = pn.pane.Markdown(plain("4**9 and [a](b)"))
    assert "<strong>" not in md._transform_object(md.object)["object"]
    cfg = Session().config
    assert in_labels("size = 5 is too small; lattice size", cfg) == (
        "Lattice side L = 5 is too small; lattice size"
    )


def test_every_preset_has_a_description_shown_under_the_box():
    from dbdviz.config import PRESET_NOTES, PRESETS

    app = App("demo")
    assert (
        set(PRESET_NOTES)
        == set(PRESETS)
        >= {
            "paper",
            "fast-oscillations",
            "predator-extinction",
            "weak-coupling",
        }
    )
    for name in PRESETS:
        app.model.preset.value = name
        assert app.model.preset_note.object == PRESET_NOTES[name].replace("_", "\\_")
    app.session.config.birth = 0.5
    assert app.model.preset_note.object.startswith("Your own settings")


def _regime(name: str, **changes):
    from dbdviz.closures import solve
    from dbdviz.compare import nrmse
    from dbdviz.config import preset
    from dbdviz.moments import moment_table
    from dbdviz.simulate import simulate

    cfg = preset(name, replicates=12, seed=1, snapshots=False, **changes)
    ens = simulate(cfg)
    sim = moment_table(ens.observables, ens.t)
    return ens, sim, nrmse(solve("mean-field", cfg), sim)


def test_teaching_presets_show_their_regimes():
    """What the descriptions promise, on 12 replicates (fixed seed): the predators
    die out; three prey peaks in 300 steps where the paper has at most two; mean
    field within 40 % where it is off by more than 70 % on the paper's case."""
    ens, _, _ = _regime("predator-extinction")
    assert np.all(ens.observables[:, -1, 1] == 0)
    _, sim, _ = _regime("fast-oscillations")
    x = sim.mean["X"]
    peaks = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 300))
    # distinct maxima more than 40 steps apart
    assert np.count_nonzero(np.diff(peaks) > 40) + 1 >= 3
    _, _, weak = _regime("weak-coupling")
    _, _, paper = _regime("paper", steps=300)
    assert weak["X"] < 0.4 and weak["Y"] < 0.4
    assert paper["X"] > 0.7 and paper["Y"] > 0.7


def test_lesson_and_glossary_are_in_the_sidebar():
    from dbdviz.ui.components.lesson import GLOSSARY_MD, LESSON_MD

    app = App("demo")
    assert any(o is app.lesson.__panel__() for o in app.template.sidebar.objects)
    assert app.lesson.lesson.title == "Lesson: why averages need a closure"
    assert app.lesson.glossary.title == "Glossary of symbols"
    for word in ("Simulate", "closures fail", "pairs", "Learn a closure"):
        assert word in LESSON_MD
    for sym in ("hX", "JXY", "awake / asleep", "channels A/B", "nnn3XX", "NRMSE"):
        assert sym in GLOSSARY_MD


def test_legends_sit_beside_the_data(simulated):
    """The moments and phase plane legends are outside the axes (inside, they
    covered the curves at 1280 x 720), level with the top."""
    from bokeh.models import Legend

    from dbdviz.ui.components import PhaseView

    view = simulated.moments
    shown = view.param.values()
    try:  # an earlier test may have left other curves shown
        view.param.update(observable="X", curves=["simulation", "mean-field", "pair"])
        figures = [view.figure(), PhaseView(simulated.session).figure()]
    finally:
        view.param.update(observable=shown["observable"], curves=shown["curves"])
    for fig in figures:
        plot = hv.render(fig, backend="bokeh")
        assert not [c for c in plot.center if isinstance(c, Legend) and c.items]
        (legend,) = [c for c in plot.right if isinstance(c, Legend) and c.items]
        assert legend.location == "top_left" and len(legend.items) >= 3


def test_phase_plane_draws_y_against_x(simulated):
    from dbdviz.ui.components import PhaseView

    view = PhaseView(simulated.session)
    kinds = [c[0] for c in view.curves()]
    assert kinds[0] == "simulation" and {"mean-field", "pair"} <= set(kinds)
    sim = simulated.session.simulation
    first = [c for c in view.figure() if isinstance(c, hv.Curve)][0]
    np.testing.assert_array_equal(first.dimension_values("X"), sim.mean["X"])
    np.testing.assert_array_equal(first.dimension_values("Y"), sim.mean["Y"])
    # rendered: an empty learned curve (legend entry hidden) that a learned table
    # fills in place, with no new figure
    view.pane.get_root()
    figure, slot = view.pane.object, view.learned_slot
    assert len(slot.items) == 1 and slot.data()[0].size == 0
    assert not slot.items[0][1].visible
    s = simulated.session
    learned = sim.slice(t_max=20.0)
    try:
        s.learned = learned
        assert view.pane.object is figure and slot.items[0][1].visible
        x, y = slot.data()
        np.testing.assert_array_equal(x, learned.mean["X"])
        np.testing.assert_array_equal(y, learned.mean["Y"])
    finally:
        s.learned = None
    assert view.pane.object is not figure and slot.data()[0].size == 0


def test_preset_box_says_custom_once_edited():
    app = App("demo")
    assert app.model.preset.value == "demo"
    app.session.config.birth = 0.03
    assert app.model.preset.value == "custom"
    app.model.preset.value = "paper"  # a preset again: its values, its name
    assert app.session.config.birth == 0.025 and app.model.preset.value == "paper"
    app.session.config.seed = 7  # the seed is not part of a preset
    assert app.model.preset.value == "paper"


def test_changed_settings_ask_for_a_new_simulation():
    app = small_app(**TINY)
    hint = app.model.stale
    assert not hint.visible  # nothing simulated yet: nothing to be stale
    assert app.model.simulate().wait(60) == JobState.FINISHED
    assert not hint.visible
    app.session.config.birth = 0.05
    assert hint.visible and "press Simulate" in hint.object
    app.session.config.birth = TINY.get("birth", 0.025)
    assert not hint.visible  # back to the settings of the results shown
    app.session.config.steps += 1
    assert hint.visible
    assert app.model.simulate().wait(60) == JobState.FINISHED
    assert not hint.visible


def test_lattice_image_follows_the_lattice_size():
    """Switching to a preset with another L: the image's axes are the new lattice's
    (the view drew a 20 x 20 lattice in a corner of a 40 x 40 frame)."""
    view = LatticeView(Session("paper"))
    plot = hv.renderer("bokeh").get_plot(view.image)
    assert plot.state.x_range.end == 40
    view.pipe.send((np.zeros((20, 20), np.uint8), "replicate 0, t = 0"))
    assert (plot.state.x_range.end, plot.state.y_range.end) == (20, 20)


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


# The real trainer on a real tiny ensemble (12 x 12, 20 steps, 6 replicates).
TINY = dict(size=12, init_x=14, init_y=10, steps=20, replicates=6, seed=5)


@pytest.fixture(scope="module")
def tiny() -> App:
    app = small_app(**TINY)
    assert app.model.simulate().wait(60) == JobState.FINISHED
    return app


def test_simulation_prepares_what_training_needs_first(tiny):
    """The simulation job computes the ensemble's digest (which every trained
    model records) and the lattices' statistics of the session's DBM, so that the
    first learned curve of a Train does not wait for them; the trainer uses them."""
    from dbdviz.dbd import Trainer
    from dbdviz.dbd.checkpoint import data_digest
    from dbdviz.dbd.train import data_statistics, snapshot_statistics
    from dbdviz.dbm.model import DBM

    s = tiny.session
    ens = s.ensemble
    digest = ens.__dict__.get("_dbdviz_digest")
    assert isinstance(digest, str) and len(digest) == 64
    fresh = copy.copy(ens)
    del fresh._dbdviz_digest, fresh._dbdviz_statistics
    assert data_digest(fresh) == digest
    key, stats = ens._dbdviz_statistics
    dbm = DBM(s.dbm_config, ens.config.size)
    np.testing.assert_array_equal(stats, snapshot_statistics(dbm, ens.snapshots))
    assert not stats.flags.writeable
    tr = Trainer(ens, s.dbm_config.copy(), s.train_config.copy(), seed=0)
    assert tr._data_stats is stats
    # another machine: computed afresh (and kept instead)
    other = DBM(s.dbm_config.copy(visible_couplings=False), ens.config.size)
    assert data_statistics(other, fresh).shape[-1] == other.n_params == 2
    assert data_statistics(dbm, fresh) is not stats


def tiny_session(
    tiny, panel_params: dict | None = None, **train
) -> tuple[Session, TrainingPanel]:
    """A fresh session holding the tiny ensemble, and its training panel (with
    ``panel_params``)."""
    s = Session("demo")
    src = tiny.session
    s.param.update(
        ensemble=src.ensemble, sim_config=src.sim_config, simulation=src.simulation
    )
    s.train_config.param.update(**train)
    return s, TrainingPanel(s, **(panel_params or {}))


def poll_until(job, cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        job.poll()
        assert job.running or cond(), f"job ended ({job.state}: {job.error})"
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_training_panel_widgets_come_from_the_configs(tiny):
    s, panel = tiny_session(tiny)
    w = panel.dbm_settings._widgets
    assert (w["depth"].start, w["depth"].end) == (0, 3)
    assert set(panel.train_settings._widgets) >= {"opt_steps", "window", "lr"}
    panel.dbm_settings._widgets["depth"].value = 1
    assert s.dbm_config.depth == 1
    # the paper protocol is loaded into the same objects (the seed is kept)
    s.train_config.seed = 11
    panel.protocol.value = "paper protocol (reference)"
    assert (s.dbm_config.depth, s.train_config.optimizer) == (2, "sgd")
    assert s.train_config.lr == 2.5e-6 and s.train_config.seed == 11
    assert panel.dbm_settings._widgets["depth"].value == 2


def test_train_needs_simulated_snapshots(tiny):
    panel = TrainingPanel(Session("demo"))
    assert panel.train() is None
    assert panel.alert.visible and "No data yet" in panel.alert.object
    s, panel = tiny_session(tiny)
    s.ensemble = types.SimpleNamespace(snapshots=None)
    assert panel.train() is None
    assert "no snapshots" in panel.alert.object
    assert panel.job is None


def test_incompatible_settings_are_alerts(tiny):
    from dbdviz.config import LatticeLV
    from dbdviz.simulate import simulate

    s, panel = tiny_session(tiny)
    # a 3 x 3 patch needs L >= 6: the alert appears as soon as the ensemble is there
    s.dbm_config.conn = 9
    s.ensemble = simulate(LatticeLV(size=5, init_x=3, init_y=3, steps=3, replicates=2))
    assert panel.alert.visible and "Lattice side L = 5" in panel.alert.object
    assert panel.train() is None and panel.job is None
    # a 13-dimensional Q3 C1 domain: refused in the panel before any work, with
    # the widget labels (the depth's own default basis, Q1, trains)
    s, panel = tiny_session(tiny)
    s.dbm_config.param.update(depth=2, cross_channel=True, visible_couplings=True)
    assert s.train_config.basis == "q1" and not panel.alert.visible
    s.train_config.basis = "q3c1"
    assert panel.alert.visible and panel.alert.alert_type == "danger"
    assert panel.alert.object.startswith("**Cannot train with these settings.**")
    assert "Basis = 'q3c1'" in panel.alert.object and "13-dimensional" in (
        panel.alert.object
    )
    assert panel.train() is None and panel.job is None
    assert not panel.train_button.disabled and panel.stop_button.disabled
    # the refinement's low-pass: an even length is refused with the widget's label
    s, panel = tiny_session(tiny)
    adv = panel.advanced[1]._widgets
    assert adv["refine_taps"].name == "Refinement low-pass taps"
    adv["refine_taps"].value = 10
    assert s.train_config.refine_taps == 10 and panel.alert.visible
    assert "Refinement low-pass taps = 10 is invalid: allowed 0, 1 or odd" in (
        panel.alert.object
    )
    assert panel.train() is None and panel.job is None
    adv["refine_taps"].value = 11
    assert not panel.alert.visible


def test_divergence_is_an_alert(tiny):
    s, panel = tiny_session(tiny, max_abs_theta=1.0)  # data biases are about -2.4
    job = panel.train()
    assert job.wait(60) == JobState.FAILED
    assert "Training diverged" in panel.alert.object
    assert "TrainingDiverged" not in panel.alert.object
    assert s.model is None and panel.status.object == "Training failed."


def test_training_streams_live_plots_and_stop_stops_it(tiny):
    """Real trainer: theta Pipe, errors Buffer and the learned curve change while it
    trains; Stop ends it and keeps the model trained so far."""
    s, panel = tiny_session(tiny, {"live_period": 0.2}, opt_steps=100_000)
    view = MomentsView(s, curves=["simulation", "dbd"])
    view.plot_pane.get_root()  # rendered, as in the browser: a learned-curve slot
    slot = view.learned_slot
    assert len(slot.items) == 1
    assert slot.data()[0].size == 0 and not slot.items[0][1].visible
    job = panel.train()
    assert job is not None and panel.stop_button.disabled is False
    # the live figures are built at the click, with the parameters of the DBM to
    # train; the first steps only send data into them
    figures = (panel.theta_lines.pane.object, panel.errors_lines.pane.object)
    assert panel.theta_lines.names == ["hX", "hY", "JXX", "JXY", "JYY"]
    assert panel.errors_lines.names == panel.theta_lines.names
    poll_until(job, lambda: panel.errors_buffer is not None and s.learned is not None)
    assert panel.theta_lines.pane.object is figures[0]
    assert panel.errors_lines.pane.object is figures[1]
    theta1 = panel.theta_pipe.data["theta"].copy()
    n_err1 = len(panel.errors_buffer.data["step"])
    learned1 = s.learned
    curve1 = slot.data()[1].copy()
    assert curve1.size and slot.items[0][1].visible
    poll_until(
        job,
        lambda: (
            s.learned is not learned1
            and len(panel.errors_buffer.data["step"]) > n_err1 + 5
        ),
    )
    theta2 = panel.theta_pipe.data["theta"]
    assert theta2.shape[0] >= theta1.shape[0]
    assert not np.array_equal(theta2[: theta1.shape[0]], theta1)
    steps = panel.errors_buffer.data["step"]
    np.testing.assert_array_equal(steps, np.arange(1, len(steps) + 1))
    assert set(panel.errors_buffer.data) == {"step", "hX", "hY", "JXX", "JXY", "JYY"}
    # the Bokeh plots show exactly what the streams hold
    np.testing.assert_array_equal(panel.theta_lines.source.data["JXY"], theta2[:, 3])
    np.testing.assert_array_equal(panel.errors_lines.source.data["x"], steps)
    err = panel.errors_buffer.data["JXX"]
    np.testing.assert_array_equal(
        panel.errors_lines.source.data["JXX"], np.where(err > 0, err, np.nan)
    )
    # the moments view replaced its learned curve's data (same figure, same
    # renderer: no new plot for the browser to build)
    assert s.learned.label.startswith("DBD live step")
    assert len(slot.items) == 1
    t, curve = slot.data()
    assert not np.array_equal(curve, curve1)
    np.testing.assert_array_equal(curve, s.learned.mean["X"])
    np.testing.assert_array_equal(t, s.learned.t)
    assert "DBD learned (live, step" in view.nrmse_pane.object
    # the bar spans both phases: 100000 adjoint steps + the refinement's iterations
    # and its final fit
    n_refine = TrainConfig.param["refine_iterations"].default + 1
    assert 0 < panel.progress.value < panel.progress.max == 100_000 + n_refine
    panel.stop()
    assert job.wait(10) == JobState.CANCELLED
    assert job.join(5) and "train" not in active_jobs()
    assert "Training stopped" in panel.status.object
    m = s.model
    assert m is not None and m.meta["cancelled"] and m.meta["steps_done"] >= 6
    assert s.evaluation is None and not panel.evaluate_button.disabled
    assert not panel.train_button.disabled and panel.stop_button.disabled


def test_training_to_the_end_evaluates_samples_and_exports(tiny):
    """Depth 1 to the end: full evaluation (NRMSE row, hierarchy channels), lattice
    samples with a hidden layer, and the model download round-trips."""
    from dbdviz.dbd import DBDModel
    from dbdviz.ui.app import App

    app = App("demo")
    src, s = tiny.session, app.session
    s.param.update(
        ensemble=src.ensemble, sim_config=src.sim_config, simulation=src.simulation
    )
    s.dbm_config.param.update(depth=1, visible_couplings=False, chains=4)
    assert s.train_config.refine == "on"  # the depth-1 default
    # the adjoint phase only: the evaluation below uses the model's low-pass
    s.train_config.param.update(extra_end_steps=2, refine="off")
    job = app.training.train()
    assert job.wait(120) == JobState.FINISHED, job.error
    m, ev = s.model, s.evaluation
    assert m.horizon == 20 and m.param_names[:2] == ["hX", "hY"]
    assert m.meta["steps_done"] == m.meta["opt_steps"] and not m.meta["cancelled"]
    assert ev is not None and s.learned is ev.table and ev.table.n == 100
    assert "Training finished" in app.training.status.object
    assert "DBD learned (100 chains, t <= 20)" in app.moments.nrmse_pane.object
    # Hierarchy: channels of the learned model and the simulated derivative
    h = app.hierarchy
    h.observable = "nnXY"
    assert h.channels_box.visible
    d = h.channel_data()
    assert d["channels"].shape == (20, len(m.param_names))
    np.testing.assert_allclose(d["sum"], d["channels"].sum(axis=1))
    sim = src.simulation
    np.testing.assert_allclose(d["true"], np.diff(sim.mean["nnXY"]))
    labels = [el.label for el in h.channels_pane.object]
    assert labels[-1] == "DBD sum" and "wXX1" in labels
    # binary-state covariances: the channels carry d<Q>/dt (its sign at least)
    assert ev.meta["cov_from"] == "states" and ev.meta["lowpass_taps"] == 7
    h.observable = "X"
    d = h.channel_data()
    assert np.corrcoef(d["sum"], d["true_smooth"])[0, 1] > 0
    # Lattice: a sample of the learned DBM at the player's time, hidden layer too
    lat = app.lattice
    lat.time.value = 7
    frame, title = lat.sample_pipe.data
    assert title == "learned DBM, t = 7" and frame.shape == (12, 12)
    assert set(np.unique(frame)) <= {0, 1, 2}
    assert len(lat.hidden_pipes) == 1 and lat.hidden_pipes[0].data[0].shape == (12, 12)
    first = frame.copy()
    lat.replicate.value = 1  # another seed
    assert not np.array_equal(lat.sample_pipe.data[0], first)
    # Export: the model round-trips through DBDModel.load
    assert not app.export.model_download.disabled
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.npz"
        p.write_bytes(app.export.model_npz().getvalue())
        back = DBDModel.load(p)
    np.testing.assert_array_equal(back.theta, m.theta)
    assert back.param_names == m.param_names and back.dbm_config.depth == 1
    # the learned table is offered as CSV
    assert "dbd" in app.export.table.options
    # PNGs of the training (theta(t) over the errors) and of the channels
    ex = app.export
    assert set(ex.png_figure.options.values()) == set(PNG_FIGURES)
    ex.png_figure.value = "training"
    assert ex.png_download.filename == "training.png"
    rgb = png_pixels(ex.figure_png())
    assert_drawn_in(rgb, Category10_10[0], Category10_10[1])  # hX, hY
    assert ex.figure_title("training").startswith("training: L = 12, birth ")
    rgb = png_pixels(ex.figure_png("hierarchy"))
    assert_drawn_in(rgb, plots.CURVE_COLORS["dbd"])  # the DBD sum
    assert ex.figure_title("hierarchy").startswith("closure channels: L = 12")


def _gated_training(panel, s, gate_step: int):
    """The panel's real training work, paused after the live curve of step
    ``gate_step`` until the returned event is set (so a test sees that step's
    state; needs live curves at every step: ``live_period = 0``)."""
    from dbdviz.ui.session import trainer_class
    from dbdviz.ui.workers import training_work

    work = training_work(
        trainer_class(),
        s.ensemble,
        s.dbm_config.copy(),
        s.train_config.copy(),
        live_period=panel.live_period,
        eval_chains=10,
    )
    gate = threading.Event()

    def gated(cancel, emit):
        def emit_and_wait(rec):
            emit(rec)
            if rec[0] == "live" and rec[1] == gate_step:
                assert gate.wait(60)

        work(cancel, emit_and_wait)

    return panel.train(work=gated), gate


@pytest.mark.parametrize("stop", [False, True])
def test_training_shows_the_refinement_live(tiny, stop):
    """Depth 0 ("auto"): the adjoint steps, then the refinement as further steps of
    the same job. While it refines, the status names the phase, the bar spans both
    phases, theta(t) is the refining path and the learned curve its sampled
    moments; at the end the model is the refined one. Stop during the refinement
    keeps the adjoint-trained model."""
    s, panel = tiny_session(
        tiny,
        {"live_period": 0.0},
        opt_steps=6,
        refine_iterations=4,
        refine_chains=4,
        seed=3,
    )
    assert s.train_config.refine == "auto" and s.dbm_config.depth == 0
    assert "refine" in panel.train_settings._widgets
    adv = panel.advanced[1]._widgets
    assert {"refine_iterations", "refine_chains", "refine_stride"} <= set(adv)
    assert list(adv["refine_targets"].options) == ["statistics", "observables"]
    assert adv["refine_nn_weight"].name == "Refinement weight of X, Y, NN pairs"
    assert adv["refine_iterations"].end == 100_000  # the hard bound, not the soft
    job, gate = _gated_training(panel, s, gate_step=8)  # refinement step 2 of 5
    poll_until(job, lambda: "Refining the closure" in panel.status.object)
    # the gated step's live curve (refinement step 1 has one too: wait for step 2)
    poll_until(
        job,
        lambda: s.learned is not None and s.learned.label.endswith("refinement 2 / 5"),
    )
    assert panel.status.object.startswith("Refining the closure: 2 / 5")
    assert (panel.progress.value, panel.progress.max) == (8, 11)
    rec = panel._last_step
    assert rec.phase == "refine" and rec.window == (0, 12)
    np.testing.assert_array_equal(panel.theta_pipe.data["theta"], rec.theta)
    assert rec.theta.shape == (13, 5)
    # the learned curve: the refining path's moments at its fitted time points
    assert s.learned.label == "DBD live refinement 2 / 5" and s.learned.n == 4
    np.testing.assert_array_equal(s.learned.t, [0, 5, 10, 12])
    np.testing.assert_array_equal(
        panel.errors_buffer.data["step"], np.arange(1, 9)
    )  # one row per step of both phases
    if stop:
        panel.stop()
        gate.set()
        assert job.wait(30) == JobState.CANCELLED
        assert "the refinement was stopped" in panel.status.object
        m = s.model
        assert m.meta["cancelled"] and "refine" not in m.meta
        assert m.meta["steps_done"] == 8 and s.evaluation is None
        return
    gate.set()
    assert job.wait(120) == JobState.FINISHED, job.error
    m = s.model
    assert m.meta["refine"]["iterations"] == 4 and not m.meta["cancelled"]
    assert m.meta["steps_done"] == m.meta["total_steps"] == 11
    assert (panel._last_step.step, panel._last_step.total_steps) == (11, 11)
    assert "Training finished" in panel.status.object
    # the status says whether the refinement's check kept the adjoint closure
    kept = "the adjoint-trained closure is kept" in panel.status.object
    assert kept == (m.meta["refine"]["accepted"] is False)
    assert s.evaluation is not None and s.learned is s.evaluation.table
    # the dashboard's closure is the API's
    from dbdviz.dbd import Trainer

    api = Trainer(s.ensemble, s.dbm_config, s.train_config).run()
    np.testing.assert_array_equal(m.theta, api.theta)


def test_refine_on_with_hidden_layers_is_an_alert(tiny):
    s, panel = tiny_session(tiny)
    # the depth's defaults: depth 1 is refined, depth 2 cannot be ("auto")
    s.dbm_config.depth = 1
    assert s.train_config.refine == "on" and s.train_config.refine_chains == 50
    # the depth-1 default's diagonal couplings show as a ticked box, depth 0 unticks
    box = panel.dbm_settings._widgets["visible_nnn_couplings"]
    assert box.name == "Visible diagonal couplings" and box.value is True
    s.dbm_config.depth = 0
    assert box.value is False
    s.dbm_config.depth = 1
    s.dbm_config.depth = 2
    assert s.train_config.refine == "auto" and not panel.alert.visible
    s.dbm_config.depth = 0
    s.train_config.refine = "on"  # the user's own choice stays with the depth
    assert not panel.alert.visible
    s.dbm_config.depth = 1  # one hidden layer can be refined
    assert not panel.alert.visible
    s.dbm_config.depth = 2
    assert panel.alert.visible and "Refine the closure = 'on'" in panel.alert.object
    assert panel.train() is None and panel.job is None
    s.train_config.refine = "auto"
    assert not panel.alert.visible


def test_evaluate_button_after_stop(tiny):
    s, panel = tiny_session(tiny, opt_steps=100_000)
    job = panel.train()
    poll_until(job, lambda: s.learned is not None)
    panel.stop()
    assert job.wait(10) == JobState.CANCELLED and s.model is not None
    job = panel.evaluate()
    assert job.name == "evaluate" and job.wait(60) == JobState.FINISHED
    assert s.evaluation is not None and s.learned is s.evaluation.table
    assert s.evaluation.t[-1] == s.model.horizon
    assert "Evaluation finished" in panel.status.object


def test_new_simulation_stops_training(tiny):
    s, panel = tiny_session(tiny, opt_steps=100_000)
    job = panel.train()
    poll_until(job, lambda: panel.errors_buffer is not None)
    # what a new Simulate does (ModelPanel)
    s.param.update(
        ensemble=copy.copy(tiny.session.ensemble),
        learned=None,
        model=None,
        evaluation=None,
    )
    assert job.wait(10) == JobState.CANCELLED
    assert "new ensemble" in panel.alert.object
    # the old run's plots, progress and model do not carry over to the new data
    # (empty plots, ready for the parameters of the next Train)
    assert panel.theta_lines.names == ["hX", "hY", "JXX", "JXY", "JYY"]
    assert all(v.size == 0 for v in panel.theta_lines.source.data.values())
    assert all(v.size == 0 for v in panel.errors_lines.source.data.values())
    assert panel.errors_lines.n_rows == 0
    assert panel.progress.value == 0 and s.model is None and s.learned is None
    assert panel.status.object.startswith("New ensemble: press **Train**")


def test_new_simulation_clears_a_finished_evaluation(tiny):
    s, panel = tiny_session(tiny, opt_steps=100_000)
    job = panel.train()
    poll_until(job, lambda: s.learned is not None)
    panel.stop()
    assert job.wait(10) == JobState.CANCELLED
    assert panel.evaluate().wait(60) == JobState.FINISHED
    assert "Evaluation finished" in panel.status.object
    assert panel.errors_lines.n_rows > 0
    s.ensemble = copy.copy(tiny.session.ensemble)
    assert "finished" not in panel.status.object
    assert panel.errors_lines.n_rows == 0 and panel.progress.value == 0


def test_session_shutdown_stops_training(tiny):
    app = App("demo")
    src = tiny.session
    app.session.param.update(ensemble=src.ensemble, sim_config=src.sim_config)
    app.session.train_config.opt_steps = 100_000
    job = app.training.train()
    poll_until(job, lambda: app.training.errors_buffer is not None)
    assert app.shutdown() == ["train"]
    assert not job.alive


# -- export --------------------------------------------------------------------------


def test_export_downloads(simulated):
    ex = simulated.export
    ex.table.value = "simulation"
    table = read_moment_table(ex.table_csv().getvalue().decode())
    np.testing.assert_allclose(
        table.mean["nnXX"], simulated.session.simulation.mean["nnXX"]
    )
    html = ex.figure_html().getvalue().decode()
    assert "<html" in html[:2000].lower() and "Bokeh" in html
    # self-contained: no linked script or stylesheet; the parameters in the title
    import re

    assert re.findall(r"<script[^>]*\bsrc=|<link\b", html) == []
    cfg = simulated.session.sim_config
    title = ex.figure_title()
    assert f"<title>{title}</title>" in html
    assert f": L = {cfg.size}, birth {cfg.birth:g}" in title
    assert title.endswith(f"{cfg.replicates} replicates, seed {cfg.seed}")
    # the PNG: 1600 x 900, drawn (not blank), with the curves' colours
    from PIL import Image

    shown = ex.moments.param.values()
    assert {"mean-field", "pair"} <= set(simulated.session.closures)
    try:
        ex.moments.param.update(
            observable="X", curves=["simulation", "mean-field", "pair"]
        )
        png = Image.open(io.BytesIO(ex.figure_png().getvalue()))
    finally:
        ex.moments.param.update(observable=shown["observable"], curves=shown["curves"])
    assert png.format == "PNG" and png.size == (1600, 900)
    rgb = np.asarray(png.convert("RGB")).reshape(-1, 3)
    assert (rgb.min(axis=1) < 200).mean() > 0.005  # drawn, not a blank page
    for colour in (plots.CURVE_COLORS["mean-field"], plots.CURVE_COLORS["pair"]):
        want = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)])
        assert (np.abs(rgb - want).max(axis=1) < 8).sum() > 500, colour
    assert ex.png_download.filename == "moments.png"
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


def _stylesheet_urls(doc) -> set[str]:
    from bokeh.models import ImportedStyleSheet

    return {
        str(s.url) for r in doc.roots for s in r.select({"type": ImportedStyleSheet})
    }


def test_exporting_the_figure_keeps_the_sessions_stylesheets_local():
    """Panel's save inside the session reuses the session's stylesheet models (its
    per-document cache); it must not rewrite them to CDN URLs."""
    from bokeh.document import Document
    from panel.io.resources import LOCAL_DIST, patch_model_css
    from panel.io.state import set_curdoc

    doc = Document()
    with set_curdoc(doc):
        template = create_app("demo")
        template.server_doc(doc)
        for root in doc.roots:  # what Panel's page handler does for a served page
            patch_model_css(root, LOCAL_DIST)
        before = _stylesheet_urls(doc)
        html = template.app.export.figure_html().getvalue()
        after = _stylesheet_urls(doc)
    assert b"Bokeh" in html
    assert any(u.startswith(LOCAL_DIST) for u in before)
    assert [u for u in after if "://" in u] == []


def test_a_session_built_without_the_page_handler_has_local_stylesheets():
    """A session the browser's websocket creates (its page's session expired) never
    passes Panel's page handler, which rewrites CDN URLs to this server's."""
    from bokeh.document import Document
    from panel.io.resources import LOCAL_DIST
    from panel.io.state import set_curdoc

    from dbdviz.ui.app import serve_stylesheets_locally

    urls = {}
    for fixed in (False, True):
        doc = Document()
        with set_curdoc(doc):
            if fixed:
                serve_stylesheets_locally(doc)
            create_app("demo").server_doc(doc)
        urls[fixed] = _stylesheet_urls(doc)
    assert any("://" in u for u in urls[False])  # Panel's default without the page
    assert [u for u in urls[True] if "://" in u] == []
    assert any(u.startswith(LOCAL_DIST) for u in urls[True])


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
    assert a.app.training.session is sa and b.app.training.session is sb
    assert sa.dbm_config is not sb.dbm_config


def png_pixels(buf) -> np.ndarray:
    """The RGB pixels (n, 3) of a 1600 x 900 PNG (asserted) in ``buf``."""
    from PIL import Image

    png = Image.open(io.BytesIO(buf.getvalue()))
    assert png.format == "PNG" and png.size == (1600, 900)
    rgb = np.asarray(png.convert("RGB")).reshape(-1, 3).astype(int)
    assert (rgb.min(axis=1) < 200).mean() > 0.005  # drawn, not a blank page
    return rgb


def assert_drawn_in(rgb: np.ndarray, *colours: str) -> None:
    """Each colour (``#rrggbb``) covers more than 500 pixels: its curve is drawn."""
    for colour in colours:
        want = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)])
        assert (np.abs(rgb - want).max(axis=1) < 8).sum() > 500, colour


def test_png_export_of_the_phase_plane(simulated):
    """The Export tab's PNG menu: the phase plane with its closures' colours, the
    parameters in the title; an unknown figure is refused naming the choices."""
    ex = simulated.export
    ex.png_figure.value = "phase"
    try:
        assert ex.png_download.filename == "phase_plane.png"
        rgb = png_pixels(ex.figure_png())
    finally:
        ex.png_figure.value = "moments"
    assert_drawn_in(rgb, plots.CURVE_COLORS["mean-field"], plots.CURVE_COLORS["pair"])
    cfg = simulated.session.sim_config
    assert ex.figure_title("phase") == (
        f"phase plane, Y against X: {parameters_text(cfg)}"
    )
    assert ex.png_download.filename == "moments.png"
    with pytest.raises(ValueError, match=r"PNG figure 'lattice': allowed \["):
        ex.figure_png("lattice")


def test_png_export_size_and_errors():
    """overlay_png draws the requested size; the start dot and bands of other
    figures too; a size outside its range is refused naming it."""
    from PIL import Image

    from dbdviz.ui.png import overlay_png

    t = np.linspace(0, 10, 50)
    fig = plots.phase_plane([("simulation", "sim", np.sin(t), np.cos(t))])
    png = Image.open(io.BytesIO(overlay_png(fig, "phase", width=640, height=480)))
    assert png.size == (640, 480)
    with pytest.raises(ValueError, match=r"PNG width = 100: allowed \[200, 8000\]"):
        overlay_png(fig, "x", width=100)


def test_ui_texts_point_to_documents_in_the_repository():
    """The Hierarchy tab pointed to a design document outside the repository: every
    document the shown texts name exists in the repository, and none names the
    design documents."""
    import re
    from pathlib import Path

    from dbdviz.ui.components import hierarchy_view, lesson

    root = Path(__file__).resolve().parents[1]
    texts = [
        getattr(mod, name)
        for mod in (hierarchy_view, lesson)
        for name in dir(mod)
        if name.endswith("_MD") and isinstance(getattr(mod, name), str)
    ]
    assert len(texts) >= 4
    named = {p for t in texts for p in re.findall(r"docs/[\w/.-]+\.md", t)}
    assert {"docs/training.md", "docs/hierarchy.md"} <= named
    assert all((root / p).is_file() for p in named), named
    for t in texts:
        assert not re.search(r"\b(ALGORITHM|STYLE|CONTRACTS)\.md", t)
