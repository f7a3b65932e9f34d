"""The training panel: DBM and training settings, Train / Stop / Evaluate, and the
live theta(t), error and learned-moment plots while the trainer runs."""

from __future__ import annotations

import time
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ...config import DBMConfig, TrainConfig, depth_defaults, training_error
from .._compat import SEED_WIDGET, int_input, widget
from ..jobs import Job, JobState
from ..live import LiveLines
from ..messages import CheckedParam, free_input, in_labels, plain
from ..session import (
    PROTOCOLS,
    Session,
    session_or_new,
    trainer_class,
    training_defaults,
)
from ..workers import LIVE_PERIOD, evaluation_work, training_work
from .depth_view import DepthComparison, depth_result

__all__ = [
    "TrainingPanel",
    "DBM_MAIN",
    "TRAIN_MAIN",
    "DBM_ADVANCED",
    "TRAIN_ADVANCED",
]


DBM_MAIN = [
    "depth",
    "conn",
    "visible_couplings",
    "visible_nnn_couplings",
    "cross_channel",
    "chains",
    "sweeps_awake",
    "sweeps_asleep",
]
TRAIN_MAIN = [
    "opt_steps",
    "window",
    "move_every",
    "lr",
    "optimizer",
    "data_per_step",
    "refine",
    "seed",
]

#: Settings that never count as the user's (the depth itself, the seed).
NOT_FOLLOWED = ("depth", "seed")

DBM_ADVANCED = ["persistent_asleep", "rungs", "sliding_factor"]
TRAIN_ADVANCED = [
    "extra_end_steps",
    "asleep_init",
    "init",
    "moment_scale",
    "adjoint_variant",
    "basis",
    "spacing",
    "substeps",
    "max_abs_theta",
    "fit_warning",
    "refine_iterations",
    "refine_chains",
    "refine_init",
    "refine_sweeps",
    "refine_stride",
    "refine_targets",
    "refine_nn_weight",
    "refine_taps",
]


#: The status before any ensemble.
READY_TEXT = "Simulate an ensemble (with snapshots), then press **Train**."


class TrainingPanel(Viewer):
    """DBM and training settings; ``Train`` runs the DBD trainer in a background thread.

    Widgets come from ``pn.Param`` over the session's :class:`DBMConfig` and
    :class:`TrainConfig` (a protocol selector loads the measured defaults or the
    paper's protocol into them). ``Train`` starts :class:`dbdviz.dbd.Trainer` on the
    session's simulated ensemble, through both of its phases (the adjoint steps,
    then the static-path refinement for fully visible machines: ``refine``);
    ``Stop`` stops it after the current step and keeps the model trained so far
    (the adjoint-trained one when stopped during the refinement); ``Evaluate``
    evaluates the current model fully.

    Live plots (STYLE.md "Live plots"): theta(t) of the current horizon (a ``Pipe``,
    whole frames) and the moment errors per step (a ``Buffer``, appended), drawn at
    up to 5 Hz by :class:`~dbdviz.ui.live.LiveLines` subscribed to them; every
    ``live_period`` seconds (about once a second) the worker samples the current
    model cheaply (:func:`dbdviz.dbd.procedure.live_moments`) and the session's
    ``learned`` table follows, so the moments view shows the DBD curve
    while it learns. During the refinement theta(t) is the refining path and the
    learned curve its moments as the refinement sampled them; the progress bar
    spans both phases and the status names the phase. After training a full
    evaluation (:func:`dbdviz.dbd.procedure.full_evaluation`) fills the learned
    curve, its NRMSE row, and the closure channels of the hierarchy view.
    """

    live_period = param.Number(
        default=LIVE_PERIOD,
        bounds=(0, None),
        doc="Least seconds between two live learned curves while training "
        "(counted from the end of the previous estimate).",
    )
    live_chains = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, None),
        doc="Chains of the live learned curve (None: "
        "dbdviz.dbd.procedure.LIVE_CHAINS).",
    )
    live_points = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, None),
        doc="Time points of the live learned curve (None: "
        "dbdviz.dbd.procedure.LIVE_POINTS).",
    )
    eval_chains = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, None),
        doc="Chains per time point of the full evaluation (None: "
        "dbdviz.dbd.procedure.EVAL_CHAINS).",
    )
    plot_period = param.Number(
        default=0.08,
        bounds=(0, None),
        doc="Least seconds between redraws of the theta(t) and error plots: every "
        "drain (jobs.POLL_MS = 100 ms, 10 Hz) may redraw; after a slow redraw the "
        "pause is twice its duration, so the session thread keeps time for events "
        "(Stop) on a loaded machine.",
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        s = self.session
        self.job: Job | None = None
        self._job_ensemble = None
        self.opt_steps = 0
        self.total_steps = 0
        self.protocol = widget(
            pn.widgets.Select,
            label="Protocol",
            options=list(PROTOCOLS),
            value=list(PROTOCOLS)[0],
            sizing_mode="stretch_width",
        )
        self.protocol.param.watch(self._on_protocol, "value")
        self.dbm_settings = CheckedParam(
            s.dbm_config,
            parameters=DBM_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={"chains": free_input(pn.widgets.IntInput)},
        )
        self.train_settings = CheckedParam(
            s.train_config,
            parameters=TRAIN_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={
                "seed": SEED_WIDGET,
                "opt_steps": free_input(pn.widgets.IntInput),
                "lr": free_input(pn.widgets.FloatInput, format="0.[0000000000]"),
            },
        )
        self.advanced = pn.Card(
            CheckedParam(
                s.dbm_config,
                parameters=DBM_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
            ),
            CheckedParam(
                s.train_config,
                parameters=TRAIN_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
                # inputs up to the hard bounds (a slider stops at the soft ones)
                widgets={
                    n: int_input(s.train_config, n)
                    for n in ("refine_iterations", "refine_chains")
                },
            ),
            title="Advanced training settings",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        self.train_button = widget(
            pn.widgets.Button, label="Train", color="primary", width=120
        )
        self.stop_button = widget(
            pn.widgets.Button, label="Stop", color="warning", disabled=True, width=120
        )
        self.evaluate_button = widget(
            pn.widgets.Button,
            label="Evaluate",
            color="default",
            disabled=True,
            width=120,
        )
        self.progress = pn.indicators.Progress(
            value=0, max=100, sizing_mode="stretch_width", height=18
        )
        self.alert = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width"
        )
        self.status = pn.pane.Markdown(READY_TEXT)
        self.theta_pipe: hv.streams.Pipe | None = None
        self.errors_buffer: hv.streams.Buffer | None = None
        self.theta_lines = LiveLines("theta(t)", "time t", "theta", name="theta")
        self.errors_lines = LiveLines(
            "moment errors per step (asleep vs awake, relative)",
            "optimisation step",
            "error",
            log_y=True,
            name="errors",
        )
        self._prepare_live_plots()
        self.theta_pane = self.theta_lines.pane
        self.errors_pane = self.errors_lines.pane
        self.depths = DepthComparison(s)
        #: Timing of the current job (benchmarks, tests): start, first plot update.
        self.t_started: float | None = None
        self.t_first_step: float | None = None
        self._pending: list = []  # steps not drawn yet
        self._last_step = None  # the newest ProgressRecord of the job
        self._next_plot = 0.0
        self.train_button.on_click(self.train)
        self.stop_button.on_click(self.stop)
        self.evaluate_button.on_click(self.evaluate)
        #: Settings the user changed since the protocol was loaded: a new depth
        #: keeps them and sets the others to that depth's defaults.
        self.user_set: set[str] = set()
        self._applying = False  # the panel itself is changing settings
        for cfg in (s.dbm_config, s.train_config):
            cfg.param.watch(self._on_settings, cfg.public_names())
        for box in (
            self.dbm_settings,
            self.train_settings,
            self.advanced[0],
            self.advanced[1],
        ):
            box.param.watch(self._on_rejected, "rejected")
        s.param.watch(self._on_ensemble, "ensemble")
        s.param.watch(self._on_model, "model")
        # settings on the left, the run and its live plots on the right (under
        # them when the width does not hold both: a notebook output)
        self._layout = pn.FlexBox(
            pn.Column(
                self.protocol,
                "### Deep Boltzmann machine",
                self.dbm_settings,
                "### Training",
                self.train_settings,
                self.advanced,
                width=330,
            ),
            pn.Column(
                self.alert,
                pn.Row(self.train_button, self.stop_button, self.evaluate_button),
                self.progress,
                self.status,
                self.theta_pane,
                self.errors_pane,
                self.depths,
                sizing_mode="stretch_width",
                min_width=420,
                styles={"flex": "1 1 420px"},
            ),
            flex_wrap="wrap",
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def _warn(self, text: str, kind: str = "warning") -> None:
        self.alert.object = text
        self.alert.alert_type = kind
        self.alert.visible = True

    # -- settings ---------------------------------------------------------------------
    def _on_protocol(self, event) -> None:
        self.apply_protocol(event.new)

    def apply_protocol(self, name: str) -> None:
        """Load a protocol's settings (:data:`PROTOCOLS`) into the same configs."""
        dbm_config, train_config = training_defaults(name)
        s = self.session
        keep_seed = s.train_config.seed
        self._update(dbm_config.to_dict(), train_config.to_dict())
        s.train_config.seed = keep_seed
        self.user_set.clear()
        if self.protocol.value != name:
            self.protocol.value = name

    def _update(self, dbm: dict, train: dict) -> None:
        """Set settings as the panel (not the user) does."""
        s = self.session
        self._applying = True
        try:
            for cfg, new in ((s.dbm_config, dbm), (s.train_config, train)):
                with param.parameterized.batch_call_watchers(cfg):
                    cfg.param.update(**new)
        finally:
            self._applying = False

    def apply_depth(self, depth: int) -> None:
        """The defaults of ``depth`` (:data:`dbdviz.config.DEPTH_DEFAULTS`) for every
        depth-following setting the user has not changed, with the measured
        protocol loaded (the paper's protocol keeps its own settings)."""
        if self.protocol.value != list(PROTOCOLS)[0]:
            return
        dbm, train = depth_defaults(depth)
        self._update(
            {n: v for n, v in dbm.items() if n not in self.user_set},
            {n: v for n, v in train.items() if n not in self.user_set},
        )

    def _on_settings(self, *events) -> None:
        if not self._applying:
            # the user's own changes first: a depth moved with them keeps them
            self.user_set.update(e.name for e in events if e.name not in NOT_FOLLOWED)
            for ev in events:
                if ev.name == "depth":
                    self.apply_depth(ev.new)
        self.check()

    def _on_rejected(self, event) -> None:
        if event.new:
            self._warn(plain(event.new), "warning")
        elif self.alert.visible and self.alert.alert_type == "warning":
            self.alert.visible = False

    def check(self) -> str | None:
        """Validate the settings against the session's data; alert and return the
        message, or None."""
        s = self.session
        try:
            s.dbm_config.validate()
            s.train_config.validate()
            snaps = getattr(s.ensemble, "snapshots", None)
            size = snaps.shape[-1] if snaps is not None else s.config.size
            s.dbm_config.check_lattice(size)
            error = training_error(s.dbm_config, s.train_config, _label)
            if error:
                raise ValueError(error)
        except ValueError as exc:
            words = plain(in_labels(str(exc), s.dbm_config, s.train_config, s.config))
            self._warn(f"**Cannot train with these settings.** {words}", "danger")
            return str(exc)
        if self.alert.visible and self.alert.object.startswith("**Cannot train"):
            self.alert.visible = False
        return None

    def _on_ensemble(self, event) -> None:
        stopped = self.running and self.job.name in ("train", "evaluate")
        if stopped:
            self.job.stop()
        self.session.depth_results = {}
        self.clear()
        if stopped:
            self._warn(
                f"{self.job.name.capitalize()} stopped: a new ensemble was simulated.",
                "warning",
            )
        self.check()

    def clear(self) -> None:
        """Forget the shown run: empty theta(t) and error plots, progress 0, the
        status back to its first words (a new ensemble: the old run's plots and
        "finished" no longer belong to the data on screen)."""
        self._pending = []
        self._last_step = None
        self.theta_pipe = None
        self.errors_buffer = None
        self._prepare_live_plots()
        self.progress.param.update(value=0, max=100)
        self.alert.visible = False
        self.status.object = (
            READY_TEXT
            if self.session.ensemble is None
            else "New ensemble: press **Train** to learn a closure for it."
        )

    def _on_model(self, event) -> None:
        self.evaluate_button.disabled = event.new is None or self.running

    # -- jobs -----------------------------------------------------------------------
    def train(self, event=None, work=None) -> Job | None:
        """Start training (the ``Train`` button's handler); returns the job or None.

        ``work`` replaces the trainer with any ``work(cancel, emit)`` producing the
        records of :func:`dbdviz.ui.workers.training_work` (tests of the streaming
        machinery).
        """
        if self.running:
            return self.job
        s = self.session
        if work is None:
            cls = trainer_class()
            if any(j.name == "simulate" for j in s.running_jobs()):
                self._warn("Wait for the simulation to finish, then press **Train**.")
                return None
            if s.ensemble is None:
                self._warn(
                    "**No data yet.** Press **Simulate** first: the DBD learns from "
                    "the simulated lattices."
                )
                return None
            if getattr(s.ensemble, "snapshots", None) is None:
                self._warn(
                    "**This ensemble has no snapshots.** Enable *Keep snapshots* under "
                    "Advanced and simulate again: the DBD learns from the lattices."
                )
                return None
            if self.check() is not None:
                return None
            work = training_work(
                cls,
                s.ensemble,
                s.dbm_config.copy(),
                s.train_config.copy(),
                live_period=self.live_period,
                live_chains=self.live_chains,
                live_points=self.live_points,
                eval_chains=self.eval_chains,
            )
        self.alert.visible = False
        self._set_progress(0, 100)
        self.theta_pipe = self.errors_buffer = None
        self._last_step = None
        s.param.update(learned=None, model=None, evaluation=None)
        self.status.object = "Preparing the trainer ..."
        job = self._start(Job("train", work, self._on_records, self._on_done))
        if job is not None:  # while the trainer prepares in its thread
            self._prepare_live_plots()
        return job

    def _prepare_live_plots(self) -> None:
        """Empty theta(t) and error plots with the parameters of the DBM that
        Train would train (none without data). Built ahead (the panel's start, a new
        ensemble, new settings at Train while the trainer prepares in its thread),
        so that a first step only sends data: a new figure costs the session
        thread and the browser up to a second on a loaded machine."""
        s = self.session
        names: list[str] = []
        if s.ensemble is not None:
            try:
                from ...dbm.model import DBM

                names = list(DBM(s.dbm_config, s.ensemble.config.size).param_names)
            except Exception:  # settings the DBM refuses (the panel says why)
                names = []
        self.theta_lines.reset(names)
        self.errors_lines.reset(names)

    def evaluate(self, event=None) -> Job | None:
        """Evaluate the session's model fully (the ``Evaluate`` button's handler)."""
        if self.running:
            return self.job
        m = self.session.model
        if m is None:
            self._warn("Train a model first.")
            return None
        self.alert.visible = False
        self._set_progress(0, int(m.horizon) + 1)
        self.status.object = "Evaluating the model ..."
        work = evaluation_work(m, self.eval_chains)
        job = Job("evaluate", work, self._on_records, self._on_done)
        return self._start(job)

    def _start(self, job: Job) -> Job | None:
        refusal = self.session.job_refusal()
        if refusal is not None:  # a served session's limits (ServeLimits)
            self._warn(refusal, "danger")
            self.status.object = "Not started."
            return None
        #: The ensemble this job belongs to: its records are dropped once another
        #: ensemble replaced it.
        self._job_ensemble = self.session.ensemble
        self._t0 = self.t_started = time.perf_counter()
        self.t_first_step = None
        self._pending = []
        self._next_plot = 0.0
        self.job = self.session.add_job(job)
        self.train_button.disabled = True
        self.evaluate_button.disabled = True
        self.stop_button.disabled = False
        self.job.start()
        return self.job

    def stop(self, event=None) -> None:
        """Stop the running job (the ``Stop`` button's handler): training stops after
        its current step, an evaluation after its current batch."""
        if self.job is not None and self.job.running:
            self.job.stop()
            self.status.object = "Stopping after the current step ..."

    # -- records (session thread) -----------------------------------------------------
    def _set_progress(self, value: int, total: int) -> None:
        total = max(int(total), 1)
        value = min(max(int(value), 0), total)
        if total != self.progress.max:
            # lower the value first: Progress validates it against the current max
            self.progress.value = 0
            self.progress.max = total
        self.progress.value = value

    def _outdated(self) -> bool:
        """Whether the current job belongs to an ensemble no longer shown."""
        return self.session.ensemble is not self._job_ensemble

    def _on_records(self, batch: list) -> None:
        if self._outdated():
            return
        for rec in batch:
            kind = rec[0]
            if kind == "step":
                self._pending.append(rec[1])
                self._last_step = rec[1]
            elif kind == "start":
                self.opt_steps = int(rec[1])
                self.total_steps = int(rec[3])
                extra = self.total_steps - self.opt_steps
                self.status.object = f"Training: 0 / {self.opt_steps} steps" + (
                    f", then refining the closure ({extra} steps) ..."
                    if extra > 0
                    else " ..."
                )
            elif kind == "live":
                self.session.learned = rec[2]
            elif kind == "model":
                self._flush_steps()  # training is over: draw every step it made
                self.session.model = rec[1]
            elif kind == "eval-progress":
                _, done, total = rec
                self._set_progress(done, total)
                self.status.object = f"Evaluating the model: {done} / {total} times ..."
            elif kind == "evaluation":
                ev = rec[1]
                self.session.param.update(evaluation=ev, learned=ev.table)
        if self._pending:
            last = self._pending[-1]
            self._show_progress(last)
            # refinement steps are slow (~0.5 s on the paper data) and the next
            # batch is that far away: draw them now rather than one step late
            slow = last.phase == "refine"
            if slow or time.perf_counter() >= self._next_plot:
                self._flush_steps()

    def _show_progress(self, last) -> None:
        """Progress bar over both phases (``total_steps``); the status names the
        phase."""
        opt = int(getattr(last, "opt_steps", 0) or self.opt_steps or 1)
        total = max(int(last.total_steps), opt)
        self._set_progress(last.step, total)
        secs = f" ({time.perf_counter() - self._t0:.0f} s)"
        if last.phase == "refine":
            self.status.object = (
                f"Refining the closure: {last.step - opt} / {total - opt}" + secs
            )
            return
        w = getattr(last, "window", None)
        self.status.object = (
            f"Training: step {last.step} / {opt}"
            + (f", window {w[0]}-{w[1]}" if w is not None else "")
            + (
                f", then refining the closure ({total - opt} steps)"
                if total > opt
                else ""
            )
            + secs
        )

    def figures(self) -> list:
        """theta(t) and the moment errors as HoloViews overlays (the PNG export)."""
        return [self.theta_lines.overlay(), self.errors_lines.overlay()]

    def _draw_theta(self, data: dict) -> None:
        """Pipe subscriber: the whole theta(t) frame replaces the plotted one."""
        theta = data["theta"]
        self.theta_lines.replace(
            data["t"], {n: theta[:, k] for k, n in enumerate(data["names"])}
        )

    def _draw_errors(self, data: dict) -> None:
        """Buffer subscriber: only the rows not plotted yet are sent."""
        n = self.errors_lines.n_rows
        self.errors_lines.extend(
            np.asarray(data["step"])[n:],
            {k: np.asarray(data[k])[n:] for k in self.errors_lines.names},
        )

    def _flush_steps(self) -> None:
        """Draw the pending steps: the newest theta(t) frame, every step's errors."""
        steps, self._pending = self._pending, []
        if not steps:
            return
        t0 = time.perf_counter()
        if self.t_first_step is None:
            self.t_first_step = t0
        last = steps[-1]
        # theta(t): only the newest frame matters.
        theta = np.asarray(last.theta, dtype=np.float64)
        dt = self.session.sim_config.dt if self.session.sim_config is not None else 1.0
        frame = dict(
            t=np.arange(theta.shape[0]) * dt, theta=theta, names=list(last.param_names)
        )
        if self.theta_pipe is None:
            self.theta_lines.reset(frame["names"])
            self.theta_pipe = hv.streams.Pipe(data=frame)
            self.theta_pipe.add_subscriber(self._draw_theta)
            self._draw_theta(frame)
        else:
            self.theta_pipe.send(frame)
        # errors: append every step.
        keys = list(last.errors)
        chunk = {"step": np.array([r.step for r in steps], dtype=np.float64)}
        for k in keys:
            chunk[k] = np.array([r.errors.get(k, np.nan) for r in steps], np.float64)
        if self.errors_buffer is None:
            self.errors_lines.reset(keys)
            self.errors_buffer = hv.streams.Buffer(
                {k: np.zeros(0) for k in chunk}, length=1_000_000, index=False
            )
            self.errors_buffer.add_subscriber(self._draw_errors)
        self.errors_buffer.send(chunk)
        # A slow redraw (a loaded machine) lengthens the pause, so the session
        # thread keeps time for clicks such as Stop.
        took = time.perf_counter() - t0
        self._next_plot = time.perf_counter() + max(self.plot_period, 2.0 * took)

    def _check_fit(self, ev, model) -> dict | None:
        """The fit of the finished evaluation to the simulation (dbd.fit.compare),
        kept in ``model.meta["fit"]``; a poor one is a warning alert."""
        sim = self.session.simulation
        if ev is None or sim is None:
            return None
        from ...dbd.fit import compare

        fit = compare(ev.table, sim, self.session.train_config.fit_warning)
        if model is not None:
            model.meta["fit"] = fit
        if fit["poor"]:
            self._warn(_poor_fit_markdown(fit), "warning")
        return fit

    def _on_done(self, state: str, error: str | None) -> None:
        self.train_button.disabled = False
        self.stop_button.disabled = True
        self.evaluate_button.disabled = self.session.model is None
        if self._outdated():  # cleared by the new ensemble (_on_ensemble)
            return
        self._flush_steps()
        dt = time.perf_counter() - self._t0
        what = (
            "Training"
            if self.job is not None and self.job.name == "train"
            else ("Evaluation")
        )
        if state == JobState.FINISHED:
            self.progress.value = self.progress.max
            ev = self.session.evaluation
            m = self.session.model
            fit = self._check_fit(ev, m)
            if ev is not None and m is not None:
                self._keep_depth(m, ev)
            rejected = (
                what == "Training"
                and m is not None
                and m.meta.get("refine", {}).get("accepted") is False
            )
            self.status.object = (
                f"{what} finished in {dt:.0f} s."
                + (
                    " The refinement did not bring the closure closer to the data, "
                    "so the adjoint-trained closure is kept."
                    if rejected
                    else ""
                )
                + (
                    f" Learned curve: {ev.table.n} chains per time, low-pass "
                    f"{ev.meta.get('lowpass_taps')} taps."
                    if ev is not None
                    else ""
                )
                + (
                    f" Fit to the data: {100 * fit['error']:.1f} %."
                    if fit is not None
                    else ""
                )
            )
        elif state == JobState.CANCELLED:
            kept = self.session.model
            unrefined = (
                what == "Training"
                and getattr(self._last_step, "phase", "adjoint") == "refine"
                and kept is not None
                and "refine" not in kept.meta
            )
            self.status.object = f"{what} stopped after {dt:.0f} s." + (
                f" The model trained so far (up to t = {kept.horizon * kept.dt:g}"
                + ("; adjoint-trained, the refinement was stopped" if unrefined else "")
                + ") is kept: **Evaluate** evaluates it, Export downloads it."
                if kept is not None and what == "Training"
                else ""
            )
        else:
            self.status.object = f"{what} failed."
            s = self.session
            words = in_labels(error or "", s.dbm_config, s.train_config, s.config)
            self._warn(_job_error_markdown(what, words), "danger")

    def _keep_depth(self, model, ev) -> None:
        """The depth comparison keeps this depth's evaluation (replacing the
        previous one of the same depth)."""
        sim = self.session.simulation
        if sim is None:
            return
        depth = int(model.dbm_config.depth)
        self.session.depth_results = {
            **self.session.depth_results,
            depth: depth_result(ev.table, sim),
        }


def _poor_fit_markdown(fit: dict) -> str:
    per = ", ".join(f"{k} {100 * v:.0f} %" for k, v in fit["per_observable"].items())
    return (
        f"**Poor fit.** The learned closure is {100 * fit['error']:.0f} % from the "
        f"simulated moments on average ({per}), above the warning level "
        f"{100 * fit['threshold']:.0f} %. Check the data (does a species die out?) "
        "and the learning rate or the number of steps."
    )


def _label(name: str) -> str:
    """The widget label of a DBMConfig / TrainConfig parameter."""
    cls = DBMConfig if name in DBMConfig.param else TrainConfig
    return cls.param[name].label or name


def _job_error_markdown(what: str, error: str | None) -> str:
    """The alert text for a failed job: the message, never a traceback."""
    error = plain(error or "unknown error")
    name, _, msg = error.partition(": ")
    if name == "ValueError":
        verb = "train" if what == "Training" else "evaluate"
        return f"**Cannot {verb} with these settings.** {msg}"
    if name == "TrainingDiverged":
        return (
            f"**Training diverged.** {msg} The model up to the last finite state is "
            "kept when there is one."
        )
    return f"**{what} failed.** {error}"
