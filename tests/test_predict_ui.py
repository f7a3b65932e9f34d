"""The dashboard's Predict action (issue 18), driven through its params."""

from __future__ import annotations

import copy
import dataclasses

import pytest

pn = pytest.importorskip("panel")

from dbdviz.config import preset  # noqa: E402
from dbdviz.dbd import train_multi  # noqa: E402
from dbdviz.simulate import simulate  # noqa: E402
from dbdviz.ui.app import App  # noqa: E402
from dbdviz.ui.components.predict_panel import warning_heading  # noqa: E402
from dbdviz.ui.jobs import JobState  # noqa: E402

STATE = dict(size=8, steps=6, dt=1.0)


@pytest.fixture(scope="module")
def model():
    ens = [
        simulate(preset("paper", init_x=x, init_y=y, replicates=6, seed=3, **STATE))
        for x, y in ((10, 8), (14, 6))
    ]
    return train_multi(ens, chains=4, iterations=1, threads=1, taps=0)


def app_with(model, **cfg) -> App:
    app = App("demo")
    app.session.config.param.update(
        **{**STATE, "init_x": 12, "init_y": 7, "replicates": 6, "seed": 3, **cfg}
    )
    app.session.model = model
    return app


def test_predict_needs_a_model():
    app = App("demo")
    assert app.predict.predict() is None
    assert app.predict.alert.visible and "No model yet" in app.predict.alert.object


def test_predict_draws_prediction_and_closures_of_the_state(model):
    app = app_with(model)
    job = app.predict.predict()
    assert job.wait(120) == JobState.FINISHED, job.error
    s = app.session
    assert s.prediction is not None and s.prediction.n == app.predict.chains
    assert (s.prediction_config.init_x, s.prediction_config.init_y) == (12, 7)
    assert set(s.prediction_closures) == {"mean-field", "pair"}
    # no simulation of this state: the view shows the prediction and its closures
    view = app.moments
    assert view.predicting_other_state
    assert set(view.model_tables()) == {"mean-field", "pair", "dbd-predict"}
    assert "prediction from 12 X + 7 Y" in str(view.figure().opts.get().kwargs)
    assert "another state" in view.nrmse_markdown()
    # simulate the same state: the prediction is scored against it
    assert app.model.simulate().wait(120) == JobState.FINISHED
    assert not view.predicting_other_state
    md = view.nrmse_markdown()
    assert "DBD prediction (from the initial counts) (100 chains), a prediction" in md
    # the simulation cleared session.model; the panel predicts with the last one
    assert s.model is None and app.predict.model is model
    assert app.predict.predict(chains=3).wait(120) == JobState.FINISHED
    # a newly trained model replaces it and clears its prediction
    other = copy.copy(model)
    s.model = other
    assert s.prediction is None and s.prediction_closures == {}
    assert app.predict.model is other


def test_predict_refuses_other_size_with_an_alert(model):
    app = app_with(model, size=10)
    assert app.predict.predict() is None
    assert "size = 10" in app.predict.alert.object


def test_live_repredicts_on_changes(model):
    app = app_with(model)
    app.predict.live = True
    app.session.config.init_x = 11
    job = app.predict.job
    assert job is not None
    assert job.wait(120) == JobState.FINISHED
    assert app.session.prediction.n == app.predict.live_chains
    assert app.session.prediction_config.init_x == 11
    # a preview: every live_every-th time point (and the last) of the 6 steps
    app.predict.live_every = 4
    app.session.config.init_x = 12
    assert app.predict.job.wait(120) == JobState.FINISHED
    assert list(app.session.prediction.t) == [0.0, 4.0, 6.0]
    # the Predict button: every time point
    job = app.predict.predict()
    assert job.wait(120) == JobState.FINISHED
    assert len(app.session.prediction.t) == 7


def test_predict_two_phase_model_says_so():
    """A model with the two-phase fit predicts in that form (the API's default) and
    the status line gives the predicted fraction without predators."""
    state = dict(size=8, steps=40, dt=1.0)
    ens = [
        simulate(preset("paper", init_x=x, init_y=y, replicates=12, seed=s, **state))
        for x, y, s in ((10, 3, 3), (14, 2, 4))
    ]
    m = train_multi(ens, chains=4, iterations=1, threads=1, taps=0)
    assert m.mixture is not None
    app = app_with(m, steps=40, init_x=12, init_y=3)
    job = app.predict.predict()
    assert job.wait(120) == JobState.FINISHED, job.error
    p = app.session.prediction
    assert p.form == "two-phase" and len(p.extinct) == 41
    frac = f"two-phase: {100 * float(p.extinct[-1]):.0f} % of the lattices"
    assert frac in app.predict.status.object


def test_predict_between_training_rates_says_so():
    """A model trained across rates, asked for rates between its settings: the alert
    says the rates are none of the training's (issue 18, honesty)."""
    ens = [
        simulate(
            preset("paper", init_x=10, init_y=8, replicates=6, seed=s, birth=b, **STATE)
        )
        for b, s in ((0.02, 3), (0.03, 4))
    ]
    m = train_multi(ens, chains=4, iterations=1, threads=1, taps=0)
    app = app_with(m, birth=0.025)
    job = app.predict.predict()
    assert job.wait(120) == JobState.FINISHED, job.error
    p = app.session.prediction
    alert = app.predict.alert
    assert alert.visible and "none of the training's settings" in alert.object
    head = "**Extrapolation.**" if p.left_at is not None else "**Untested rates.**"
    assert alert.object.startswith(head), alert.object
    # at a training setting the alert stays quiet about the rates
    app.session.config.birth = 0.03
    assert app.predict.predict().wait(120) == JobState.FINISHED
    assert "none of the training's" not in (app.session.prediction.warning or "")


def test_predict_past_the_trained_times_says_so(model):
    """Asked for more steps than the training saw, the alert and the status say the
    prediction runs past the training's last time; "Untested rates" is kept for
    rates between the training's settings, "Extrapolation" for leaving the region."""
    app = app_with(model, steps=STATE["steps"] + 4, init_x=10, init_y=8)
    job = app.predict.predict()
    assert job.wait(120) == JobState.FINISHED, job.error
    p = app.session.prediction
    assert p.past_training and p.trained_to == STATE["steps"] * STATE["dt"]
    assert "past the training's last time t = 6" in p.warning
    assert warning_heading(p) == "Extrapolation"  # this small model also leaves
    inside = dataclasses.replace(p, left_at=None)  # as a path that stays inside
    assert warning_heading(inside) == "Beyond the trained times"
    assert warning_heading(dataclasses.replace(inside, trained_to=None)) == (
        "Untested rates"
    )
    panel = app.predict
    panel._on_records([("prediction", inside, app.session.prediction_config)])
    assert panel.alert.object.startswith("**Beyond the trained times.**")
    panel._on_done(JobState.FINISHED, None)
    assert "past the training's last time t = 6 " in panel.status.object
    # within the trained times: no such warning
    app.session.config.steps = STATE["steps"]
    assert app.predict.predict().wait(120) == JobState.FINISHED
    assert not app.session.prediction.past_training
