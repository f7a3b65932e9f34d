"""The model panel: rates, lattice, initial counts, simulation size; Simulate, Stop."""

from __future__ import annotations

import time
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from ...config import PRESET_NOTES, PRESETS
from .._compat import SEED_WIDGET, widget
from ..jobs import Job, JobState
from ..messages import CheckedParam, free_input, in_labels, plain
from ..session import Session, session_or_new
from ..workers import SITE_STEPS_PER_BATCH, simulation_work
from .moments_view import CURVE_LABELS

__all__ = ["ModelPanel", "MODEL_MAIN", "MODEL_ADVANCED", "CUSTOM", "STALE_HINT"]

#: The Preset box's entry once a setting differs from the chosen preset.
CUSTOM = "custom"
#: Hint shown while the settings differ from those of the results on screen.
STALE_HINT = "Settings changed: press Simulate to see results for them."


#: Model parameters shown first; the rest of LatticeLV goes into an "Advanced" card.
MODEL_MAIN = [
    "birth",
    "death",
    "predation",
    "size",
    "init_x",
    "init_y",
    "steps",
    "replicates",
    "seed",
]
MODEL_ADVANCED = ["dt", "pick_mode", "birth_mode", "snapshots"]
#: Settings shown as sliders (over the soft bounds) with a box for the full range.
SLIDERS = ["size", "birth", "death", "init_x", "init_y"]
#: A slider's title wraps in a narrow sidebar or in large type (Bokeh: nowrap).
WRAP_TITLE = ".bk-slider-title { white-space: normal; }"


def preset_note(name: str) -> str:
    """The preset box's one-line description (plain text)."""
    if name == CUSTOM:
        return "Your own settings (no preset)."
    return plain(PRESET_NOTES.get(name, ""))


def editable_slider(config, name: str) -> dict[str, Any]:
    """``pn.Param`` spec: a slider over the soft bounds with a box beside it that
    takes any value within the parameter's hard bounds."""
    p = config.param[name]
    integer = isinstance(p, param.Integer)
    lo, hi = p.bounds
    spec: dict[str, Any] = {
        "type": pn.widgets.EditableIntSlider
        if integer
        else pn.widgets.EditableFloatSlider,
        "fixed_start": lo,
        "fixed_end": hi,
    }
    if not integer:
        spec.update(step=0.001, format="0.000")
    return spec


class ModelPanel(Viewer):
    """Model rates, lattice, initial counts, simulation size; ``Simulate`` and ``Stop``.

    ``Simulate`` runs :func:`dbdviz.simulate.simulate` in a background thread with a
    progress bar, then the moments and the classical closures (mean field, pair
    approximation) of the same configuration. ``Stop`` cancels within about a second.
    """

    site_steps_per_batch = param.Number(
        default=SITE_STEPS_PER_BATCH,
        bounds=(1, None),
        doc="Site updates per simulator batch: Stop and progress act between "
        "batches (dbdviz.ui.workers.batch_size).",
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        cfg = self.session.config
        self.job: Job | None = None
        self._applying = False
        self.preset = widget(
            pn.widgets.Select,
            label="Preset",
            options=[*PRESETS, CUSTOM],
            value=self.session.preset_name,
            sizing_mode="stretch_width",
        )
        self.preset.param.watch(self._on_preset, "value")
        #: What the chosen preset shows (one line), or that the settings are custom.
        self.preset_note = pn.pane.Markdown(
            preset_note(self.preset.value),
            sizing_mode="stretch_width",
            margin=(0, 10),
        )
        self.settings = CheckedParam(
            cfg,
            parameters=MODEL_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={
                "seed": SEED_WIDGET,
                "steps": free_input(pn.widgets.IntInput),
                "replicates": free_input(pn.widgets.IntInput),
                # sliders over the soft bounds; the box beside them takes any value
                # up to the hard bounds
                **{n: editable_slider(cfg, n) for n in SLIDERS},
                # its slider spans the whole range [0, 1]
                "predation": {
                    "type": pn.widgets.FloatSlider,
                    "stylesheets": [WRAP_TITLE],
                },
            },
        )
        self.advanced = pn.Card(
            CheckedParam(
                cfg,
                parameters=MODEL_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
            ),
            title="Advanced",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        for box in (self.settings, self.advanced[0]):
            box.param.watch(self._on_rejected, "rejected")
        self.simulate_button = widget(
            pn.widgets.Button,
            label="Simulate",
            color="primary",
            sizing_mode="stretch_width",
        )
        self.stop_button = widget(
            pn.widgets.Button,
            label="Stop",
            color="warning",
            disabled=True,
            sizing_mode="stretch_width",
        )
        self.progress = pn.indicators.Progress(
            value=0, max=100, sizing_mode="stretch_width", height=18
        )
        self.alert = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width"
        )
        self.status = pn.pane.Markdown(
            "Ready: press **Simulate**.", sizing_mode="stretch_width"
        )
        #: Shown while the settings differ from those of the results on screen.
        self.stale = pn.pane.Alert(
            STALE_HINT, alert_type="info", visible=False, sizing_mode="stretch_width"
        )
        self.simulate_button.on_click(self.simulate)
        self.stop_button.on_click(self.stop)
        cfg.param.watch(self._on_config, cfg.public_names())
        self.session.param.watch(self._on_results, "sim_config")
        # controls first: Simulate is on screen on load, the settings follow
        self._layout = pn.Column(
            self.preset,
            self.preset_note,
            pn.Row(self.simulate_button, self.stop_button, sizing_mode="stretch_width"),
            self.progress,
            self.status,
            self.stale,
            self.alert,
            self.settings,
            self.advanced,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    # -- validation -----------------------------------------------------------------
    def _on_rejected(self, event) -> None:
        if event.new:
            self.alert.object = plain(event.new)
            self.alert.alert_type = "warning"
            self.alert.visible = True
        elif self.alert.alert_type == "warning":
            self.alert.visible = False

    def check(self) -> str | None:
        """Validate the current settings; show and return the message, or None."""
        try:
            self.session.config.validate()
            refusal = self.session.config_refusal(self.session.config)
            if refusal is not None:
                raise ValueError(refusal)
        except ValueError as exc:
            words = plain(in_labels(str(exc), self.session.config))
            self.alert.object = f"**Cannot simulate these settings.** {words}"
            self.alert.alert_type = "danger"
            self.alert.visible = True
            return str(exc)
        if self.alert.alert_type == "danger":
            self.alert.visible = False
        return None

    def _on_config(self, *_events) -> None:
        self.check()
        if not self._applying:
            name = self.session.preset_name
            if self.preset.value != CUSTOM and not self.matches_preset(name):
                self.preset.value = CUSTOM
        self._show_stale()

    def _on_results(self, *_events) -> None:
        self._show_stale()

    def matches_preset(self, name: str) -> bool:
        """Whether the settings hold preset ``name``'s values (seed excluded)."""
        cfg = self.session.config
        return name in PRESETS and all(
            getattr(cfg, k) == v for k, v in PRESETS[name].items()
        )

    def settings_changed(self) -> bool:
        """Whether the settings differ from those that made the results shown."""
        made = self.session.sim_config
        if made is None:
            return False
        return made.to_dict() != self.session.config.to_dict()

    def _show_stale(self) -> None:
        self.stale.visible = self.settings_changed() and not self.running

    def _on_preset(self, event) -> None:
        self.preset_note.object = preset_note(event.new)
        if event.new != CUSTOM:
            self.apply_preset(event.new)

    def apply_preset(self, name: str) -> None:
        """Load a preset's values into the (same) config object."""
        values = dict(PRESETS[name])
        cfg = self.session.config
        self._applying = True
        try:
            # Batch the change so the combination is checked once, on the final
            # values.
            with param.parameterized.batch_call_watchers(cfg):
                cfg.param.update(**values)
        finally:
            self._applying = False
        self.session.preset_name = name
        if self.preset.value != name:
            self.preset.value = name
        self.check()
        self._show_stale()

    # -- the job --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def simulate(self, event=None) -> Job | None:
        """Start the background simulation (the ``Simulate`` button's handler)."""
        if self.running:
            return self.job
        if self.check() is not None:
            return None
        refusal = self.session.job_refusal()
        if refusal is not None:
            self._show_error(refusal)
            return None
        try:
            from ...simulate import simulate as _simulate
        except ImportError as exc:
            self._show_error(f"The simulator is not available: {exc}")
            return None
        cfg = self.session.config.copy()
        n_bytes = (
            (cfg.replicates * (cfg.steps + 1) * cfg.n_sites) if cfg.snapshots else 0
        )
        self.alert.visible = False
        self.stale.visible = False
        self.progress.value = 0
        self.progress.max = 100
        self.status.object = (
            f"Simulating {cfg.replicates} replicate(s) of {cfg.steps} steps on "
            f"{cfg.size} x {cfg.size}"
            + (f" (snapshots {n_bytes / 2**20:.0f} MiB)" if n_bytes else "")
            + " ..."
        )
        work = simulation_work(
            _simulate,
            cfg,
            site_steps_per_batch=self.site_steps_per_batch,
            dbm_config=self.session.dbm_config.copy(),
        )
        self.job = self.session.add_job(
            Job("simulate", work, self._on_records, self._on_done)
        )
        self._t0 = time.perf_counter()
        self._sim_config = cfg
        self.simulate_button.disabled = True
        self.stop_button.disabled = False
        self.job.start()
        return self.job

    def stop(self, event=None) -> None:
        """Cancel the running simulation (the ``Stop`` button's handler)."""
        if self.job is not None:
            self.job.stop()
            self.status.object = "Stopping ..."

    def _on_records(self, batch: list) -> None:
        s = self.session
        progress = None
        for rec in batch:
            kind = rec[0]
            if kind == "progress":
                progress = rec
            elif kind == "ensemble":
                _, ens, table = rec
                # One update of the three parameters, so views redraw once.
                s.param.update(
                    ensemble=ens,
                    sim_config=self._sim_config,
                    simulation=table,
                    closures={},
                    closure_errors={},
                    learned=None,
                    model=None,
                    evaluation=None,
                )
                dt = time.perf_counter() - self._t0
                self.status.object = (
                    f"Simulated {ens.observables.shape[0]} replicate(s) in {dt:.1f} s; "
                    "solving closures ..."
                )
            elif kind == "closure":
                _, key, table = rec
                s.closures = {**s.closures, key: table}
            elif kind == "closure-error":
                _, key, msg = rec
                s.closure_errors = {**s.closure_errors, key: msg}
        if progress is not None:
            _, done, total = progress
            # replicates, not percent: every batch moves the bar
            self.progress.param.update(max=max(int(total), 1), value=int(done))

    def _on_done(self, state: str, error: str | None) -> None:
        self.simulate_button.disabled = False
        self.stop_button.disabled = True
        self._show_stale()
        dt = time.perf_counter() - self._t0
        if state == JobState.FINISHED:
            self.progress.value = self.progress.max
            msgs = [f"Done in {dt:.1f} s."]
            for key, msg in self.session.closure_errors.items():
                msgs.append(f"{CURVE_LABELS.get(key, key)} unavailable: {plain(msg)}")
            self.status.object = " ".join(msgs)
        elif state == JobState.CANCELLED:
            self.status.object = f"Stopped after {dt:.1f} s."
        else:
            self.status.object = "Simulation failed."
            self._show_error(
                "Simulation failed: " + plain(in_labels(error, self.session.config))
            )

    def _show_error(self, text: str) -> None:
        self.alert.object = text
        self.alert.alert_type = "danger"
        self.alert.visible = True
