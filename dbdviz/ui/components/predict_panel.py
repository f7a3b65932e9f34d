"""The predict panel: the learned closure as a law. ``Predict`` integrates the
trained model from the current settings' initial counts (and rates, for a model
trained across rates) and draws it beside mean field and pair approximation of the
same state; with "Re-predict on changes" every change of the settings predicts again
(fewer chains)."""

from __future__ import annotations

import time
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .._compat import widget
from ..jobs import Job, JobState
from ..session import Session, session_or_new

__all__ = ["PredictPanel", "STATE_KEYS"]

#: Settings that define the predicted state; a change re-predicts when live.
STATE_KEYS = ("init_x", "init_y", "birth", "death", "predation", "size", "steps")


def prediction_work(model, config, chains: int, seed: int = 0, every: int = 1):
    """``work(cancel, emit)`` of a prediction job: the prediction, then the
    classical closures of the same state (records ``("prediction", p, config)``,
    ``("closure", key, table)``, ``("closure-error", key, message)``)."""

    def work(cancel, emit) -> None:
        from ...closures import CLOSURES
        from ...dbd.predict import predict

        p = predict(
            model,
            config,
            chains=chains,
            seed=seed,
            every=every,
            warn=False,
            cancel=cancel,
        )
        emit(("prediction", p, config))
        for key, fn in CLOSURES.items():
            if cancel.is_set():
                return
            try:
                emit(("closure", key, fn(config)))
            except Exception as exc:  # a failed closure is reported, not fatal
                emit(("closure-error", key, str(exc)))

    return work


def warning_heading(p) -> str:
    """The alert's heading for a prediction's warning: left the visited region,
    ran past the training's last time, or rates between the training's settings."""
    if p.left_at is not None:
        return "Extrapolation"
    if p.past_training:
        return "Beyond the trained times"
    return "Untested rates"


class PredictPanel(Viewer):
    """``Predict``: the trained model's prediction for the current settings."""

    chains = param.Integer(default=100, bounds=(1, None), doc="Chains of Predict.")
    live_chains = param.Integer(
        default=10, bounds=(1, None), doc="Chains of a re-prediction on changes."
    )
    live_every = param.Integer(
        default=5,
        bounds=(1, None),
        doc="A re-prediction on changes samples every live_every-th time point.",
    )
    live = param.Boolean(
        default=False,
        label="Re-predict on changes",
        doc="Predict again whenever the initial counts or rates change.",
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.job: Job | None = None
        #: The model predicted with: the session's last trained one (a new
        #: simulation clears ``session.model``, but the law stays usable).
        self.model = self.session.model
        self.predict_button = widget(
            pn.widgets.Button,
            label="Predict",
            color="primary",
            sizing_mode="stretch_width",
        )
        self.live_box = pn.widgets.Checkbox.from_param(self.param.live)
        self.alert = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width"
        )
        self.status = pn.pane.Markdown(
            "Train a model (Training tab), then **Predict** the moments of the "
            "settings above from their initial counts.",
            sizing_mode="stretch_width",
        )
        self.predict_button.on_click(self.predict)
        self.session.config.param.watch(self._on_state, list(STATE_KEYS))
        self.session.param.watch(self._on_model, "model")
        self._layout = pn.Column(
            pn.Row(self.predict_button, self.live_box, sizing_mode="stretch_width"),
            self.alert,
            self.status,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def _on_model(self, event) -> None:
        """A newly trained model replaces the one predicted with (and its last
        prediction); ``None`` (a new simulation) keeps both."""
        if event.new is None or event.new is self.model:
            return
        self.model = event.new
        if self.running:
            self.job.stop()
        self.session.param.update(
            prediction=None, prediction_config=None, prediction_closures={}
        )
        self.alert.visible = False

    def _on_state(self, *_events) -> None:
        if self.live and self.model is not None:
            self.predict(chains=self.live_chains, every=self.live_every)

    def _show(self, text: str, kind: str) -> None:
        self.alert.param.update(object=text, alert_type=kind, visible=True)

    def predict(
        self, event=None, chains: int | None = None, every: int = 1
    ) -> Job | None:
        """Start a prediction of the current settings (the button's handler)."""
        s = self.session
        if self.model is None:
            self._show("No model yet: train one first (Training tab).", "danger")
            return None
        cfg = s.config.copy()
        try:
            cfg.validate()
            from ...dbd.predict import check_prediction

            check_prediction(self.model, cfg)
        except ValueError as exc:
            self._show(f"**Cannot predict these settings.** {exc}", "danger")
            return None
        if self.running:  # a newer state replaces the one being predicted
            self.job.stop()
        self.alert.visible = False
        n = int(self.chains if chains is None else chains)
        self.status.object = (
            f"Predicting {cfg.init_x} X + {cfg.init_y} Y, {cfg.steps} steps "
            f"({n} chains) ..."
        )
        self._t0 = time.perf_counter()
        self.job = s.add_job(
            Job(
                "predict",
                prediction_work(self.model, cfg, n, every=every),
                self._on_records,
                self._on_done,
            )
        )
        self.job.start()
        return self.job

    def _on_records(self, batch: list) -> None:
        s = self.session
        for rec in batch:
            if rec[0] == "prediction":
                _, p, cfg = rec
                s.param.update(
                    prediction=p, prediction_config=cfg, prediction_closures={}
                )
                self.first_draw_seconds = time.perf_counter() - self._t0
                if p.warning:
                    self._show(f"**{warning_heading(p)}.** {p.warning}", "warning")
            elif rec[0] == "closure":
                s.prediction_closures = {**s.prediction_closures, rec[1]: rec[2]}

    def _on_done(self, state: str, error: str | None) -> None:
        dt = time.perf_counter() - self._t0
        if state == JobState.FINISHED:
            p = self.session.prediction
            where = (
                "extrapolating (see the warning)"
                if p is None or p.left_at is not None
                else f"past the training's last time t = {p.trained_to:g} (see the "
                "warning)"
                if p.past_training
                else "between the training's rates (see the warning)"
                if p.warning
                else "inside the region the training visited"
            )
            if p is not None and getattr(p, "extinct", None) is not None:
                where += (
                    f"; two-phase: {100 * float(p.extinct[-1]):.0f} % of the "
                    "lattices without predators at the end"
                )
            self.status.object = f"Predicted in {dt:.1f} s, {where}."
        elif state == JobState.CANCELLED:
            self.status.object = "Prediction replaced or stopped."
        else:
            self.status.object = "Prediction failed."
            self._show(f"Prediction failed: {error}", "danger")
