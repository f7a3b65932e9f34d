"""Dashboard components: one ``pn.viewable.Viewer`` per panel, sharing a ``Session``.

The same objects display in Jupyter (``ModelPanel()`` in a cell) and in the served
app (``dbdviz.ui.app.create_app``). Every component takes the :class:`Session` that
holds the per-session state (configs, the last ensemble, its moment tables, the
closures, the learned model) and builds its own widgets in ``__init__``; nothing lives
in module globals, so two browser tabs never share state.

Widgets for model and training settings come from the ``param`` declarations in
:mod:`dbdviz.config` through ``pn.Param`` (one definition per parameter, with its
bounds, so a widget cannot leave the allowed range). Combinations that are invalid
only together (``init_x + init_y > size**2``) show an alert, never a traceback.

Long work runs in background threads through :class:`dbdviz.ui.jobs.Job`: the thread
only fills a queue; the session's periodic callback drains it into widgets and
``hv.streams.Pipe``/``Buffer`` objects (STYLE.md, "Live plots").
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..config import PRESETS, DBMConfig, LatticeLV, TrainConfig, preset
from ..moments import CONTRACT_OBSERVABLES, OBSERVABLES, MomentTable, read_moment_table
from . import plots
from .jobs import Job, JobState
from .live import LiveLines

__all__ = [
    "Session",
    "ModelPanel",
    "MomentsView",
    "LatticeView",
    "TrainingPanel",
    "HierarchyView",
    "ExportPanel",
    "reference_learned_path",
    "is_paper_config",
    "trainer_class",
]

log = logging.getLogger("dbdviz.ui")

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
DBM_MAIN = [
    "depth",
    "conn",
    "visible_couplings",
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

#: Seeds in the browser: JavaScript numbers are exact only below 2**53.
_SEED_WIDGET = {"type": pn.widgets.IntInput, "start": 0, "end": 2**53 - 1}

#: Curve toggles of the moments view: button label -> curve key.
CURVE_OPTIONS = {
    "Simulation": "simulation",
    "95% band": "band",
    "Replicate spread": "spread",
    "Mean field": "mean-field",
    "Pair approx.": "pair",
    "DBD learned": "dbd",
    "C++ reference": "cpp-reference",
}
CURVE_LABELS = {
    "simulation": "simulation mean",
    "mean-field": "mean field",
    "pair": "pair approximation",
    "dbd": "DBD learned",
    "cpp-reference": "C++ DBD (paper, low-pass)",
}
#: Keys that are model curves compared with the simulation (NRMSE readout).
CLOSURE_KEYS = ("mean-field", "pair", "dbd", "cpp-reference")

# ----------------------------------------------------------------------------------
# helpers (no UI state)
# ----------------------------------------------------------------------------------


def reference_learned_path() -> Path:
    """Where the C++ learned closure of the paper is looked for.

    ``$DBDVIZ_REFERENCE_DIR/cpp_dbd_learned_paper_lowpass.csv`` if that variable is
    set, else ``../shared/reference/`` next to the source checkout.
    """
    name = "cpp_dbd_learned_paper_lowpass.csv"
    env = os.environ.get("DBDVIZ_REFERENCE_DIR")
    if env:
        return Path(env) / name
    return Path(__file__).resolve().parents[2].parent / "shared" / "reference" / name


_PAPER_MODEL_KEYS = (
    "size",
    "birth",
    "death",
    "predation",
    "init_x",
    "init_y",
    "dt",
    "pick_mode",
    "birth_mode",
)


def is_paper_config(config: LatticeLV | None) -> bool:
    """Whether ``config`` has the ``paper`` model (any steps and replicates)."""
    if config is None:
        return False
    ref = PRESETS["paper"]
    return all(getattr(config, k) == ref[k] for k in _PAPER_MODEL_KEYS)


def trainer_class():
    """``dbdviz.dbd.Trainer``, imported on first use (keeps the app's start fast)."""
    from ..dbd import Trainer

    return Trainer


#: Training protocols offered by the training panel: label -> factory name in
#: ``dbdviz.dbd.train``.
PROTOCOLS = {
    "dbdviz defaults (measured)": "default_configs",
    "paper protocol (reference)": "reference_configs",
}


def training_defaults(protocol: str = "dbdviz defaults (measured)"):
    """Fresh ``(DBMConfig, TrainConfig)`` of a protocol (:data:`PROTOCOLS`).

    The trainer's measured defaults (``dbdviz.dbd.default_configs``); the bare
    config defaults when the training backend is missing.
    """
    try:
        from ..dbd import train as _train
    except ImportError:
        return DBMConfig(), TrainConfig()
    return getattr(_train, PROTOCOLS[protocol])()


def _int_input(config, name: str) -> dict[str, Any]:
    """``pn.Param`` widget spec: an ``IntInput`` over the parameter's hard bounds
    (``pn.Param`` would take the soft ones)."""
    lo, hi = config.param[name].bounds
    return {"type": pn.widgets.IntInput, "start": lo, "end": hi}


def _kw(cls, **kw: Any) -> dict[str, Any]:
    """Constructor keywords for ``cls`` across Panel 1.x versions.

    Panel 1.9 renamed ``name`` -> ``label``, ``button_type`` -> ``color`` and
    ``button_style`` -> ``variant`` (the old names warn); older versions only know
    the old names.
    """
    names = cls.param
    for new, old in (
        ("label", "name"),
        ("color", "button_type"),
        ("variant", "button_style"),
    ):
        if new in kw and new not in names:
            kw[old] = kw.pop(new)
    return kw


def _widget(cls, **kw: Any):
    return cls(**_kw(cls, **kw))


def _download(callback, filename: str, label: str, **kw: Any):
    """A primary-coloured FileDownload button of the Export tab."""
    return _widget(
        pn.widgets.FileDownload,
        callback=callback,
        filename=filename,
        label=label,
        color="primary",
        width=300,
        **kw,
    )


def _fmt_err(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------------
# per-session state
# ----------------------------------------------------------------------------------


class Session(param.Parameterized):
    """State of one dashboard session (one browser tab or one notebook).

    Components read and write these parameters; watchers (``param.depends``) update
    the plots. Build one per app instance, never share it between sessions.
    """

    config = param.ClassSelector(class_=LatticeLV, doc="Model and simulation settings.")
    dbm_config = param.ClassSelector(class_=DBMConfig, doc="DBM architecture.")
    train_config = param.ClassSelector(class_=TrainConfig, doc="Training settings.")
    preset_name = param.Selector(default="paper", objects=list(PRESETS))

    ensemble = param.Parameter(default=None, doc="Last simulated Ensemble (or None).")
    sim_config = param.ClassSelector(
        class_=LatticeLV,
        allow_None=True,
        doc="Copy of the config that made `ensemble`.",
    )
    simulation = param.ClassSelector(
        class_=MomentTable, allow_None=True, doc="Moments of `ensemble`."
    )
    closures = param.Dict(default={}, doc="Closure key -> MomentTable.")
    closure_errors = param.Dict(default={}, doc="Closure key -> error message.")
    learned = param.ClassSelector(
        class_=MomentTable,
        allow_None=True,
        doc="Moments of the DBD: live estimates while training, then the evaluation.",
    )
    model = param.Parameter(
        default=None, doc="The trained (or partly trained) DBDModel, or None."
    )
    evaluation = param.Parameter(
        default=None, doc="Full Evaluation of `model` (channels), or None."
    )
    reference = param.ClassSelector(
        class_=MomentTable,
        allow_None=True,
        doc="C++ learned closure of the paper, if present.",
    )

    def __init__(self, preset_name: str = "paper", **params: Any) -> None:
        params.setdefault("config", preset(preset_name))
        if "dbm_config" not in params or "train_config" not in params:
            dbm_config, train_config = training_defaults()
            params.setdefault("dbm_config", dbm_config)
            params.setdefault("train_config", train_config)
        super().__init__(preset_name=preset_name, **params)
        self.jobs: list[Job] = []
        path = reference_learned_path()
        if path.is_file():
            try:
                self.reference = read_moment_table(path, label="cpp-reference")
            except (OSError, ValueError) as exc:  # a broken file must not break the app
                log.warning("cannot read %s: %s", path, exc)

    def add_job(self, job: Job) -> Job:
        self.jobs = [j for j in self.jobs if j.running] + [job]
        return job

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.running]

    def shutdown(self) -> list[str]:
        """Stop every job of this session and wait briefly; return their names."""
        names = [j.name for j in self.jobs if j.running or j.alive]
        for j in self.jobs:
            j.shutdown()
        return names


def _session_or_new(session: Session | None) -> Session:
    return session if session is not None else Session()


# ----------------------------------------------------------------------------------
# Model panel: settings, Simulate, Stop
# ----------------------------------------------------------------------------------


class ModelPanel(Viewer):
    """Model rates, lattice, initial counts, simulation size; ``Simulate`` and ``Stop``.

    ``Simulate`` runs :func:`dbdviz.simulate.simulate` in a background thread with a
    progress bar, then the moments and the classical closures (mean field, pair
    approximation) of the same configuration. ``Stop`` cancels within about a second.
    """

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        cfg = self.session.config
        self.job: Job | None = None
        self.preset = _widget(
            pn.widgets.Select,
            label="Preset",
            options=list(PRESETS),
            value=self.session.preset_name,
            sizing_mode="stretch_width",
        )
        self.preset.param.watch(self._on_preset, "value")
        self.settings = pn.Param(
            cfg,
            parameters=MODEL_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={
                "seed": _SEED_WIDGET,
                "steps": {"type": pn.widgets.IntInput},
                "replicates": {"type": pn.widgets.IntInput},
                "birth": {
                    "type": pn.widgets.FloatSlider,
                    "step": 0.001,
                    "format": "0.000",
                },
                "death": {
                    "type": pn.widgets.FloatSlider,
                    "step": 0.001,
                    "format": "0.000",
                },
            },
        )
        self.advanced = pn.Card(
            pn.Param(
                cfg,
                parameters=MODEL_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
            ),
            title="Advanced",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        self.simulate_button = _widget(
            pn.widgets.Button,
            label="Simulate",
            color="primary",
            sizing_mode="stretch_width",
        )
        self.stop_button = _widget(
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
        self.simulate_button.on_click(self.simulate)
        self.stop_button.on_click(self.stop)
        cfg.param.watch(self._on_config, cfg.public_names())
        self._layout = pn.Column(
            self.preset,
            self.settings,
            self.advanced,
            self.alert,
            pn.Row(self.simulate_button, self.stop_button, sizing_mode="stretch_width"),
            self.progress,
            self.status,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    # -- validation -----------------------------------------------------------------
    def check(self) -> str | None:
        """Validate the current settings; show and return the message, or None."""
        try:
            self.session.config.validate()
        except ValueError as exc:
            self.alert.object = f"**Cannot simulate these settings.** {exc}"
            self.alert.alert_type = "danger"
            self.alert.visible = True
            return str(exc)
        if self.alert.alert_type == "danger":
            self.alert.visible = False
        return None

    def _on_config(self, *_events) -> None:
        self.check()

    def _on_preset(self, event) -> None:
        self.apply_preset(event.new)

    def apply_preset(self, name: str) -> None:
        """Load a preset's values into the (same) config object."""
        values = dict(PRESETS[name])
        cfg = self.session.config
        # Batch the change so the combination is checked once, on the final values.
        with param.parameterized.batch_call_watchers(cfg):
            cfg.param.update(**values)
        self.session.preset_name = name
        if self.preset.value != name:
            self.preset.value = name
        self.check()

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
        try:
            from ..simulate import simulate as _simulate
        except ImportError as exc:
            self._show_error(f"The simulator is not available: {exc}")
            return None
        cfg = self.session.config.copy()
        n_bytes = (
            (cfg.replicates * (cfg.steps + 1) * cfg.n_sites) if cfg.snapshots else 0
        )
        self.alert.visible = False
        self.progress.value = 0
        self.progress.max = 100
        self.status.object = (
            f"Simulating {cfg.replicates} replicate(s) of {cfg.steps} steps on "
            f"{cfg.size} x {cfg.size}"
            + (f" (snapshots {n_bytes / 2**20:.0f} MiB)" if n_bytes else "")
            + " ..."
        )
        work = _simulation_work(_simulate, cfg)
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
        dt = time.perf_counter() - self._t0
        if state == JobState.FINISHED:
            self.progress.value = self.progress.max
            msgs = [f"Done in {dt:.1f} s."]
            for key, msg in self.session.closure_errors.items():
                msgs.append(f"{CURVE_LABELS.get(key, key)} unavailable: {msg}")
            self.status.object = " ".join(msgs)
        elif state == JobState.CANCELLED:
            self.status.object = f"Stopped after {dt:.1f} s."
        else:
            self.status.object = "Simulation failed."
            self._show_error(f"Simulation failed: {error}")

    def _show_error(self, text: str) -> None:
        self.alert.object = text
        self.alert.alert_type = "danger"
        self.alert.visible = True


#: Site updates per simulator batch (~0.2 s on one 2-core VM): the simulator checks
#: Stop and reports progress between batches, so this sets both latencies.
_SITE_STEPS_PER_BATCH = 1.6e7


def _batch_size(cfg: LatticeLV) -> int:
    """Replicates per simulator call: small batches for big lattices (fast Stop)."""
    from .._numba import get_threads

    per_rep = cfg.n_sites * (cfg.steps + 1)
    return int(max(get_threads(), min(256, _SITE_STEPS_PER_BATCH // max(per_rep, 1))))


def _simulation_work(simulate_fn, cfg: LatticeLV):
    """Worker: simulate, then moments, then the classical closures of ``cfg``."""

    def work(cancel, emit):
        last = [0.0]

        def progress(done, total):
            # Throttle: the drain shows at most ~6 updates/s anyway.
            now = time.perf_counter()
            if done >= total or now - last[0] > 0.05:
                last[0] = now
                emit(("progress", int(done), int(total)))

        ens = simulate_fn(
            cfg, progress=progress, cancel=cancel, batch_size=_batch_size(cfg)
        )
        if cancel.is_set():
            return
        emit(("ensemble", ens, ens.moments()))
        try:
            from ..closures import solve
        except ImportError as exc:
            for key in ("mean-field", "pair"):
                emit(("closure-error", key, f"closures not available ({exc})"))
            return
        for key in ("mean-field", "pair"):
            if cancel.is_set():
                return
            try:
                emit(("closure", key, solve(key, cfg)))
            except Exception as exc:  # ClosureError or a solver failure: report it
                emit(("closure-error", key, _fmt_err(exc)))

    return work


# ----------------------------------------------------------------------------------
# Moments view
# ----------------------------------------------------------------------------------


class MomentsView(Viewer):
    """Ensemble mean with a 95 % band, replicate spread, closures and learned curves.

    One observable at a time (a selector); which curves show is one click
    (a ``CheckButtonGroup``); an NRMSE table compares every closure with the
    simulation on all observables both provide.
    """

    observable = param.Selector(
        default="X", objects=list(OBSERVABLES), label="Observable"
    )
    curves = param.ListSelector(
        default=["simulation", "band", "mean-field", "pair", "dbd", "cpp-reference"],
        objects=list(CURVE_OPTIONS.values()),
        label="Curves",
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        self.observable_select = pn.widgets.Select.from_param(
            self.param.observable,
            **_kw(pn.widgets.Select, label="Observable", width=200),
        )
        self.curve_buttons = pn.widgets.CheckButtonGroup.from_param(
            self.param.curves,
            **_kw(
                pn.widgets.CheckButtonGroup,
                options=CURVE_OPTIONS,
                color="primary",
                variant="outline",
                label="",
            ),
        )
        self._spread_cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        #: Pipe of the learned curve in the shown figure (None when it has none): live
        #: updates of the learned moments only patch that curve's data.
        self.learned_pipe: hv.streams.Pipe | None = None
        self.plot_pane = pn.pane.HoloViews(
            self.figure(live=True), sizing_mode="stretch_width", min_height=400
        )
        self.nrmse_pane = pn.pane.Markdown(
            self.nrmse_markdown(), sizing_mode="stretch_width"
        )
        self.session.param.watch(
            self._refresh, ["simulation", "closures", "ensemble", "reference"]
        )
        self.session.param.watch(self._on_learned, "learned")
        self.param.watch(self._refresh, ["observable", "curves"])
        self._layout = pn.Column(
            pn.Row(self.observable_select, self.curve_buttons),
            self.plot_pane,
            self.nrmse_pane,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def _refresh(self, *_events) -> None:
        self.plot_pane.object = self.figure(live=True)
        self.nrmse_pane.object = self.nrmse_markdown()

    def _on_learned(self, event) -> None:
        new, obs = event.new, self.observable
        if (
            self.learned_pipe is not None
            and new is not None
            and obs in new.mean
            and "dbd" in self.curves
        ):
            # Same figure, new data for one curve: no re-render in the browser.
            self.learned_pipe.send((new.t, new.mean[obs]))
            self.nrmse_pane.object = self.nrmse_markdown()
        else:
            self._refresh()

    # -- data behind the plot ------------------------------------------------------
    def model_tables(self) -> dict[str, MomentTable]:
        """Closure key -> table for every model curve available now."""
        s = self.session
        out = dict(s.closures)
        if s.learned is not None:
            out["dbd"] = s.learned
        if s.reference is not None and is_paper_config(s.sim_config):
            ref = s.reference
            if s.simulation is not None and s.simulation.t.size:
                # only the simulated times (a shorter run would be squeezed flat)
                ref = ref.slice(t_max=float(s.simulation.t[-1]))
            out["cpp-reference"] = ref
        return out

    def spread(self, obs: str) -> tuple[np.ndarray, np.ndarray] | None:
        """5 % and 95 % quantiles of single replicates, shape (n_times,) each."""
        ens = self.session.ensemble
        if ens is None or obs not in OBSERVABLES:
            return None
        key = (id(ens), obs)
        if key not in self._spread_cache:
            k = OBSERVABLES.index(obs)
            q = np.quantile(
                np.asarray(ens.observables[:, :, k], dtype=np.float64),
                [0.05, 0.95],
                axis=0,
            )
            self._spread_cache = {key: (q[0], q[1])}  # keep only the newest
        return self._spread_cache[key]

    def figure(self, live: bool = False) -> hv.Overlay | hv.DynamicMap:
        """The overlay shown for the current observable and curve selection.

        ``live=True`` (the dashboard's plot) draws the learned curve from a new
        :attr:`learned_pipe`, so the overlay becomes a ``DynamicMap``; the default
        is a static ``hv.Overlay`` (exports, tests).
        """
        obs, show = self.observable, set(self.curves)
        dynamic = []
        if live:
            self.learned_pipe = None
        sim = self.session.simulation
        bands, curves = [], []
        if sim is not None and obs in sim.mean:
            if "spread" in show:
                sp = self.spread(obs)
                if sp is not None:
                    bands.append(plots.spread_band(sim.t, sp[0], sp[1], obs))
            if "band" in show and obs in sim.sd and sim.n and sim.n > 1:
                bands.append(
                    plots.confidence_band(sim.t, sim.mean[obs], sim.se(obs), obs)
                )
            if "simulation" in show:
                curves.append(
                    ("simulation", f"simulation mean (n={sim.n})", sim.t, sim.mean[obs])
                )
        for key, table in self.model_tables().items():
            if key in show and obs in table.mean:
                if live and key == "dbd":
                    dynamic.append(self._learned_dmap(table, obs))
                    continue
                curves.append((key, CURVE_LABELS[key], table.t, table.mean[obs]))
        title = plots._OBS_LABELS.get(obs, obs)
        if sim is None:
            title += " (press Simulate)"
        return plots.moments_overlay(obs, curves, bands, title=title, dynamic=dynamic)

    def _learned_dmap(self, table: MomentTable, obs: str) -> hv.DynamicMap:
        label = CURVE_LABELS["dbd"]
        self.learned_pipe = hv.streams.Pipe(data=(table.t, table.mean[obs]))
        return hv.DynamicMap(
            lambda data: plots.moment_curve(data[0], data[1], obs, label, "dbd"),
            streams=[self.learned_pipe],
        )

    def nrmse(self) -> dict[str, dict[str, float]]:
        """Closure key -> {observable: NRMSE against the simulation mean}."""
        sim = self.session.simulation
        if sim is None:
            return {}
        try:
            from ..compare import nrmse
        except ImportError:
            return {}
        out = {}
        for key, table in self.model_tables().items():
            try:
                out[key] = {k: float(v) for k, v in nrmse(table, sim).items()}
            except Exception as exc:  # an incompatible table: say so, do not crash
                log.info("nrmse(%s) failed: %s", key, exc)
        return out

    def nrmse_markdown(self) -> str:
        res = self.nrmse()
        if not res:
            if self.session.simulation is None:
                return ""
            return "_NRMSE readout appears when a closure is available._"
        cols = [o for o in CONTRACT_OBSERVABLES if any(o in r for r in res.values())]
        head = "| NRMSE vs simulation | " + " | ".join(cols) + " |"
        sep = "|---" * (len(cols) + 1) + "|"
        rows = []
        tables = self.model_tables()
        for key, r in res.items():
            cells = [
                (f"{100 * r[o]:.1f} %" if o in r and math.isfinite(r[o]) else "-")
                for o in cols
            ]
            name = CURVE_LABELS.get(key, key)
            if key == "dbd":
                name += _learned_note(tables[key])
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join([head, sep, *rows])


def _learned_note(table: MomentTable) -> str:
    """`` (live, step 40, 8 chains, t <= 25)`` for a live estimate, else the chains."""
    t_max = f", t <= {table.t[-1]:g}" if table.t.size else ""
    if table.label.startswith(LIVE_LABEL):
        step = table.label[len(LIVE_LABEL) :].strip()
        return f" (live, {step}, {table.n} chains{t_max})"
    return f" ({table.n} chains{t_max})"


# ----------------------------------------------------------------------------------
# Lattice view
# ----------------------------------------------------------------------------------


SAMPLES_HINT = "_Train a DBD to see samples of the learned model here._"


class LatticeView(Viewer):
    """Snapshots of one replicate over time (a player), X and Y in fixed colours.

    Once the session has a learned model, a sample of the learned DBM at the same
    time t is drawn beside the simulated lattice: its visible layer in the species
    colours and every hidden layer as a small image. The sample is one chain sampled
    as in training (:func:`sampling_procedure`, the sampler behind the learned
    curves); its seed follows the replicate slider, so moving it draws another sample.
    Beyond the trained horizon theta(t) is extrapolated with the learned dynamics.
    """

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        self.replicate = _widget(
            pn.widgets.IntSlider,
            label="Replicate",
            start=0,
            end=1,
            value=0,
            disabled=True,
            width=260,
        )
        self.time = _widget(
            pn.widgets.Player,
            label="Time step",
            start=0,
            end=1,
            value=0,
            interval=120,
            loop_policy="once",
            disabled=True,
            show_loop_controls=False,
            width=420,
        )
        L = self.session.config.size
        self.pipe = hv.streams.Pipe(data=(np.zeros((L, L), np.uint8), "no lattice yet"))
        self.image = hv.DynamicMap(
            lambda data: plots.lattice_rgb(*data), streams=[self.pipe]
        )
        self.info = pn.pane.Markdown("Press **Simulate** to see the lattice.")
        self.samples = pn.pane.Markdown(SAMPLES_HINT, width=380)
        self.sample_pipe = hv.streams.Pipe(
            data=(np.zeros((L, L), np.uint8), "learned DBM")
        )
        self.sample_pane = pn.pane.HoloViews(
            hv.DynamicMap(
                lambda data: plots.lattice_rgb(*data), streams=[self.sample_pipe]
            ),
            linked_axes=False,
        )
        # Visibility is toggled on a layout: Panel 1.9 fails to toggle it on a
        # rendered HoloViews pane (stylesheet type error).
        self.sample_box = pn.Column(self.sample_pane, visible=False)
        #: One Pipe per hidden layer of the current model.
        self.hidden_pipes: list[hv.streams.Pipe] = []
        self.hidden_row = pn.Row()
        self._model_cache: tuple[Any, Any, np.ndarray] | None = None
        self.replicate.param.watch(self._update, "value")
        self.time.param.watch(self._update, "value")
        self.session.param.watch(self._on_ensemble, "ensemble")
        self.session.param.watch(self._on_model, "model")
        legend = pn.pane.HTML(
            "".join(
                f'<span style="display:inline-block;width:12px;height:12px;'
                f'background:rgb{SPECIES}"></span>&nbsp;{name}&nbsp;&nbsp;'
                for name, SPECIES in (
                    ("empty", plots.SPECIES_COLORS["empty"]),
                    ("X prey", plots.SPECIES_COLORS["X"]),
                    ("Y predator", plots.SPECIES_COLORS["Y"]),
                )
            )
        )
        hidden_legend = pn.pane.HTML(
            "hidden units: "
            + "".join(
                f'<span style="display:inline-block;width:12px;height:12px;'
                f'background:rgb{c}"></span>&nbsp;{name}&nbsp;&nbsp;'
                for name, c in (
                    ("off", plots.HIDDEN_COLORS["off"]),
                    ("A", plots.HIDDEN_COLORS["A"]),
                    ("B", plots.HIDDEN_COLORS["B"]),
                )
            )
        )
        self._layout = pn.Column(
            pn.Row(self.replicate, self.time),
            legend,
            pn.Row(
                pn.pane.HoloViews(self.image, linked_axes=False),
                pn.Column(self.sample_box, self.samples),
            ),
            self.info,
            self.hidden_row,
            hidden_legend,
        )

    def __panel__(self):
        return self._layout

    def _on_ensemble(self, event) -> None:
        ens = event.new
        has = ens is not None and getattr(ens, "snapshots", None) is not None
        self.replicate.disabled = self.time.disabled = not has
        if not has:
            self.info.object = (
                "This ensemble has no snapshots (enable *Keep snapshots* "
                "under Advanced)."
                if ens is not None
                else ""
            )
            return
        reps, times = ens.snapshots.shape[:2]
        self.time.param.update(end=max(times - 1, 1), value=0)
        self.replicate.param.update(end=max(reps - 1, 1), value=0)
        self._update()

    def frame(self) -> tuple[np.ndarray, str] | None:
        """Current (lattice uint8 (L, L), title), or None without snapshots."""
        ens = self.session.ensemble
        snaps = getattr(ens, "snapshots", None) if ens is not None else None
        if snaps is None:
            return None
        r = min(self.replicate.value, snaps.shape[0] - 1)
        k = min(self.time.value, snaps.shape[1] - 1)
        t = float(ens.t[k])
        return np.ascontiguousarray(snaps[r, k]), f"replicate {r}, t = {t:g}"

    # -- samples of the learned model -------------------------------------------
    def _on_model(self, event) -> None:
        m = event.new
        self._model_cache = None
        self.hidden_pipes = []
        self.hidden_row.objects = []
        if m is None:
            self.sample_box.visible = False
            self.samples.object = SAMPLES_HINT
            return
        L = m.size
        for layer in range(1, m.dbm_config.depth + 1):
            pipe = hv.streams.Pipe(data=(np.zeros((L, L), np.int8), f"hidden {layer}"))
            self.hidden_pipes.append(pipe)
            self.hidden_row.append(
                pn.pane.HoloViews(
                    hv.DynamicMap(
                        lambda data: plots.lattice_rgb(*data, "hidden", 190),
                        streams=[pipe],
                    ),
                    linked_axes=False,
                )
            )
        self.sample_box.visible = True
        self._update()

    def _model_parts(self):
        """(model, DBM, theta over the data's times), cached per model."""
        m = self.session.model
        if self._model_cache is None or self._model_cache[0] is not m:
            ens = self.session.ensemble
            n = m.horizon
            if ens is not None:
                n = max(n, int(round(float(ens.t[-1]) / m.dt)))
            theta = m.theta if n <= m.horizon else m.integrate(n)
            self._model_cache = (m, m.dbm(), np.asarray(theta, dtype=np.float64))
        return self._model_cache

    def learned_sample(self) -> tuple[np.ndarray, str] | None:
        """A sample of the learned DBM at the player's time, or None without a model.

        Returns
        -------
        states : ndarray of int8, shape (n_layers, L, L)
            Layer 0 is the visible lattice (0 empty, 1 X, 2 Y), then hidden layers.
        title : str
        """
        m = self.session.model
        if m is None:
            return None
        m, dbm, theta = self._model_parts()
        ens = self.session.ensemble
        k = self.time.value
        t = float(ens.t[min(k, len(ens.t) - 1)]) if ens is not None else k * m.dt
        tau = min(int(round(t / m.dt)), theta.shape[0] - 1)
        row = theta[tau]
        if not np.all(np.isfinite(row)):
            return None
        from .._rng import seed_states

        rng = seed_states(1_000_003 * int(self.replicate.value) + tau, 1)
        states = dbm.init_chains(1, rng)
        init, sweeps = sampling_procedure(m)
        # carried chains are in equilibrium: a burn-in stands in for the carrying
        dbm.sample(row, states, sweeps + (100 if init == "carry" else 0), seed=rng)
        where = " (extrapolated)" if tau > m.horizon else ""
        return states[0], f"learned DBM, t = {tau * m.dt:g}{where}"

    def _update_sample(self) -> None:
        try:
            smp = self.learned_sample()
        except Exception as exc:  # a broken model must not break the player
            log.info("learned sample failed: %s", exc)
            smp = None
        if smp is None:
            if self.session.model is not None:
                self.samples.object = "_No sample: theta(t) is not finite here._"
            return
        states, title = smp
        self.sample_pipe.send((states[0], title))
        for layer, pipe in enumerate(self.hidden_pipes, start=1):
            if layer < states.shape[0]:
                pipe.send((states[layer], f"hidden layer {layer}"))
        m = self.session.model
        init, sweeps = sampling_procedure(m)
        how = (
            f"random start, {sweeps} sweeps"
            if init == "random"
            else f"random start, {sweeps + 100} sweeps"
        )
        self.samples.object = (
            f"One chain of the learned DBM ({how}, as in training); trained up to "
            f"t = {m.horizon * m.dt:g}."
        )

    def _update(self, *_events) -> None:
        if self.session.model is not None:
            self._update_sample()
        fr = self.frame()
        if fr is None:
            return
        self.pipe.send(fr)
        ens = self.session.ensemble
        r, k = min(self.replicate.value, ens.observables.shape[0] - 1), self.time.value
        o = ens.observables[r, k]
        self.info.object = (
            f"t = {float(ens.t[k]):g}: X = {o[0]}, Y = {o[1]}, "
            f"XY pairs = {o[OBSERVABLES.index('nnXY')]}"
        )


# ----------------------------------------------------------------------------------
# Training panel
# ----------------------------------------------------------------------------------


#: Live learned curve while training: the current model is sampled again at most every
#: LIVE_PERIOD seconds, counted from the end of the previous estimate (so estimates
#: take a bounded share of the worker's time), at LIVE_POINTS times of the trained
#: horizon with LIVE_CHAINS chains and a fixed seed (successive curves differ by the
#: model, not by sampling noise).
LIVE_PERIOD = 1.0
LIVE_POINTS = 60
LIVE_CHAINS = 8
LIVE_LABEL = "DBD live"
#: Chains per time point of the full evaluation after training (the CLI's default).
EVAL_CHAINS = 100
#: Minimum seconds between redraws of the theta(t) and error plots: every drain
#: (jobs.POLL_MS = 100 ms, 10 Hz) may redraw; after a slow redraw the pause is twice
#: its duration, so the session thread keeps time for events (Stop) on a loaded
#: machine.
PLOT_PERIOD = 0.08

DBM_ADVANCED = ["persistent_asleep", "sliding_factor"]
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
    "refine_iterations",
    "refine_chains",
    "refine_stride",
]


def sampling_procedure(model) -> tuple[str, int]:
    """``(init, sweeps)``: how the model's asleep phase sampled it in training
    (``model.meta["evaluate"]``), so every view samples it the same way."""
    trained = (getattr(model, "meta", None) or {}).get("evaluate", {})
    sweeps = int(trained.get("sweeps", model.dbm_config.sweeps_asleep))
    return str(trained.get("init", "random")), sweeps


def live_moments(
    model,
    chains: int | None = None,
    points: int | None = None,
    seed: int = 0,
    cancel=None,
) -> MomentTable:
    """Cheap moments of a (partly) trained model, for the live learned curve.

    ``chains`` chains at most ``points`` evenly spread times of the trained horizon,
    sampled as in training (:func:`sampling_procedure`), raw theta (no low-pass).

    Returns
    -------
    MomentTable
        Label ``"DBD live step <k>"``; ``t`` float64 (<= points,).
    """
    from ..dbd import sample_trajectory

    chains = LIVE_CHAINS if chains is None else int(chains)
    points = LIVE_POINTS if points is None else int(points)
    T = int(model.horizon)
    idx = np.unique(np.round(np.linspace(0, T, min(points, T + 1))).astype(np.int64))
    init, sweeps = sampling_procedure(model)
    ev = sample_trajectory(
        model.dbm(),
        model.theta[idx],
        idx * float(model.dt),
        chains=chains,
        sweeps=sweeps,
        init=init,
        seed=seed,
        cancel=cancel,
        label=f"{LIVE_LABEL} step {model.meta.get('steps_done', '?')}",
    )
    return ev.table


def lowpass_taps_for(n_times: int, taps: int = 63) -> int:
    """The reference's 63-tap low-pass, shortened for short trajectories.

    A filter longer than a third of the series is mostly edge padding and flattens
    theta(t) (and so every closure channel): use the largest odd length <= n / 3,
    or no filter below 3 taps.
    """
    if n_times >= 3 * taps:
        return taps
    k = int(n_times) // 3
    k -= 1 - k % 2  # largest odd <= n / 3
    return k if k >= 3 else 0


def full_evaluation(model, chains: int | None = None, progress=None, cancel=None):
    """The evaluation shown after training: :func:`dbdviz.dbd.evaluate` sampling
    the model as it was trained to match (its defaults), the reference low-pass
    (:func:`lowpass_taps_for`) and seed 0.

    Covariances come from the binary states (``cov_from="states"``), for which
    ``Cov(Q, M_k) = d<Q>/dtheta_k`` holds, so the closure channels add up to the
    model's d<Q>/dt; conditional probabilities shrink them (to about zero for the
    default fully visible machine with couplings). The moments do not depend on it.
    """
    from ..dbd import evaluate

    return evaluate(
        model,
        chains=EVAL_CHAINS if chains is None else int(chains),
        lowpass_taps=lowpass_taps_for(
            int(model.horizon) + 1,
            int((model.meta or {}).get("evaluate", {}).get("lowpass_taps", 63)),
        ),
        cov_from="states",
        seed=0,
        progress=progress,
        cancel=cancel,
    )


def _is_cancelled(exc: BaseException) -> bool:
    return type(exc).__name__ == "Cancelled"


def _training_work(
    trainer_cls,
    ensemble,
    dbm_config: DBMConfig,
    train_config: TrainConfig,
    *,
    evaluate_after: bool = True,
    live_period: float | None = None,
    eval_chains: int | None = None,
):
    """Worker: train step by step (both phases of the trainer: adjoint steps, then
    the refinement when ``train_config.refine`` says so), estimate the learned
    moments now and then, hand over the model, then evaluate it fully.

    Records (tuples, in order): ``("start", opt_steps, param_names, total_steps)``;
    per step ``("step", ProgressRecord)``; now and then ``("live", step,
    MomentTable)``: in the adjoint phase a cheap sampling of the current model
    (:func:`live_moments`), in the refinement the moments of the refining path that
    the step sampled anyway (``Trainer.refine_moments``, at its fitted time points);
    at the end (also after Stop) ``("model", DBDModel)``; then ``("eval-progress",
    done, total)`` and ``("evaluation", Evaluation)``. Stop is checked between
    steps, so it takes effect after the current step (tens of ms on the paper
    lattice at depth 0, ~0.3 s at depth 2, ~0.5 s per refinement step; more with
    many chains or sweeps). Stopped during the refinement, the model is the
    adjoint-trained one.
    """

    # module constants read at call time (tests and benchmarks may change them)
    live_period = LIVE_PERIOD if live_period is None else float(live_period)
    eval_chains = EVAL_CHAINS if eval_chains is None else int(eval_chains)

    def work(cancel, emit):
        from ..dbd import TrainingDiverged

        tr = trainer_cls(ensemble, dbm_config=dbm_config, train_config=train_config)
        emit(
            (
                "start",
                int(tr.opt_steps),
                list(tr.param_names),
                int(tr.total_steps),
            )
        )
        last_live = -math.inf
        good = None  # the newest model known to be finite
        failure = None
        try:
            while not tr.done and not cancel.is_set():
                rec = tr.step()
                emit(("step", rec))
                now = time.perf_counter()
                refining = rec.phase == "refine"
                if refining and rec.step == rec.opt_steps + 1:
                    last_live = -math.inf  # show the phase's first path at once
                table = tr.refine_moments if refining else None
                if tr.done or (table is None and now - last_live >= live_period):
                    good = tr.model()
                    emit(("live", rec.step, live_moments(good, cancel=cancel)))
                    last_live = time.perf_counter()
                elif table is not None and now - last_live >= live_period:
                    k, n = rec.step - rec.opt_steps, rec.total_steps - rec.opt_steps
                    label = f"{LIVE_LABEL} refinement {k} / {n}"
                    emit(("live", rec.step, dataclasses.replace(table, label=label)))
                    last_live = now
        except TrainingDiverged as exc:
            failure = exc
        except Exception as exc:
            if not _is_cancelled(exc):
                raise
        try:
            # a failed refinement step leaves the adjoint-trained model intact
            refined_failed = failure is not None and tr.step_index >= tr.opt_steps
            model = tr.model() if failure is None or refined_failed else good
        except Exception:  # pragma: no cover - a trajectory that fails to integrate
            model = good
        if model is not None and tr.step_index > 0:
            model.meta["cancelled"] = cancel.is_set()
            emit(("model", model))
        if failure is not None:
            raise failure
        if cancel.is_set() or model is None or not evaluate_after:
            return
        _evaluation_work(model, eval_chains)(cancel, emit)

    return work


def _evaluation_work(model, chains: int | None = None):
    """Worker: full evaluation of ``model`` with progress records."""
    chains = EVAL_CHAINS if chains is None else int(chains)

    def work(cancel, emit):
        last = [0.0]

        def progress(done, total):
            now = time.perf_counter()
            if done >= total or now - last[0] > 0.05:
                last[0] = now
                emit(("eval-progress", int(done), int(total)))

        emit(("eval-progress", 0, int(model.horizon) + 1))
        ev = full_evaluation(model, chains, progress=progress, cancel=cancel)
        emit(("evaluation", ev))

    return work


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
    up to 5 Hz by :class:`~dbdviz.ui.live.LiveLines` subscribed to them; about once
    a second the worker samples the current model cheaply (:func:`live_moments`) and
    the session's ``learned`` table follows, so the moments view shows the DBD curve
    while it learns. During the refinement theta(t) is the refining path and the
    learned curve its moments as the refinement sampled them; the progress bar
    spans both phases and the status names the phase. After training a full
    evaluation (:func:`full_evaluation`) fills the learned curve, its NRMSE row, and
    the closure channels of the hierarchy view.
    """

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        s = self.session
        self.job: Job | None = None
        self.opt_steps = 0
        self.total_steps = 0
        self.protocol = _widget(
            pn.widgets.Select,
            label="Protocol",
            options=list(PROTOCOLS),
            value=list(PROTOCOLS)[0],
            sizing_mode="stretch_width",
        )
        self.protocol.param.watch(self._on_protocol, "value")
        self.dbm_settings = pn.Param(
            s.dbm_config,
            parameters=DBM_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={"chains": {"type": pn.widgets.IntInput}},
        )
        self.train_settings = pn.Param(
            s.train_config,
            parameters=TRAIN_MAIN,
            show_name=False,
            sizing_mode="stretch_width",
            widgets={
                "seed": _SEED_WIDGET,
                "opt_steps": {"type": pn.widgets.IntInput},
                "lr": {"type": pn.widgets.FloatInput, "format": "0.[0000000000]"},
            },
        )
        self.advanced = pn.Card(
            pn.Param(
                s.dbm_config,
                parameters=DBM_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
            ),
            pn.Param(
                s.train_config,
                parameters=TRAIN_ADVANCED,
                show_name=False,
                sizing_mode="stretch_width",
                # inputs up to the hard bounds (a slider stops at the soft ones)
                widgets={
                    n: _int_input(s.train_config, n)
                    for n in ("refine_iterations", "refine_chains")
                },
            ),
            title="Advanced training settings",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        self.train_button = _widget(
            pn.widgets.Button, label="Train", color="primary", width=120
        )
        self.stop_button = _widget(
            pn.widgets.Button, label="Stop", color="warning", disabled=True, width=120
        )
        self.evaluate_button = _widget(
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
        self.status = pn.pane.Markdown(
            "Simulate an ensemble (with snapshots), then press **Train**."
        )
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
        self.theta_pane = self.theta_lines.pane
        self.errors_pane = self.errors_lines.pane
        #: Timing of the current job (benchmarks, tests): start, first plot update.
        self.t_started: float | None = None
        self.t_first_step: float | None = None
        self._pending: list = []  # steps not drawn yet
        self._last_step = None  # the newest ProgressRecord of the job
        self._next_plot = 0.0
        self.train_button.on_click(self.train)
        self.stop_button.on_click(self.stop)
        self.evaluate_button.on_click(self.evaluate)
        for cfg in (s.dbm_config, s.train_config):
            cfg.param.watch(self._on_settings, cfg.public_names())
        s.param.watch(self._on_ensemble, "ensemble")
        s.param.watch(self._on_model, "model")
        # settings on the left, the run and its live plots on the right
        self._layout = pn.Row(
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
                sizing_mode="stretch_width",
            ),
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
        for cfg, new in ((s.dbm_config, dbm_config), (s.train_config, train_config)):
            with param.parameterized.batch_call_watchers(cfg):
                cfg.param.update(**new.to_dict())
        s.train_config.seed = keep_seed
        if self.protocol.value != name:
            self.protocol.value = name

    def _on_settings(self, *_events) -> None:
        self.check()

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
            s.train_config.refines(s.dbm_config.depth)
        except ValueError as exc:
            self._warn(f"**Cannot train with these settings.** {exc}", "danger")
            return str(exc)
        if self.alert.visible and self.alert.object.startswith("**Cannot train"):
            self.alert.visible = False
        return None

    def _on_ensemble(self, event) -> None:
        if self.running and self.job.name == "train":
            self.job.stop()
            self._warn("Training stopped: a new ensemble was simulated.", "warning")
        self.check()

    def _on_model(self, event) -> None:
        self.evaluate_button.disabled = event.new is None or self.running

    # -- jobs -----------------------------------------------------------------------
    def train(self, event=None, work=None) -> Job | None:
        """Start training (the ``Train`` button's handler); returns the job or None.

        ``work`` replaces the trainer with any ``work(cancel, emit)`` producing the
        records of :func:`_training_work` (tests of the streaming machinery).
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
            work = _training_work(
                cls, s.ensemble, s.dbm_config.copy(), s.train_config.copy()
            )
        self.alert.visible = False
        self._set_progress(0, 100)
        self.theta_pipe = self.errors_buffer = None
        self._last_step = None
        s.param.update(learned=None, model=None, evaluation=None)
        self.status.object = "Preparing the trainer ..."
        return self._start(Job("train", work, self._on_records, self._on_done))

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
        job = Job("evaluate", _evaluation_work(m), self._on_records, self._on_done)
        return self._start(job)

    def _start(self, job: Job) -> Job:
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

    def _on_records(self, batch: list) -> None:
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
        self._next_plot = time.perf_counter() + max(PLOT_PERIOD, 2.0 * took)

    def _on_done(self, state: str, error: str | None) -> None:
        self._flush_steps()
        self.train_button.disabled = False
        self.stop_button.disabled = True
        self.evaluate_button.disabled = self.session.model is None
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
            self._warn(_job_error_markdown(what, error), "danger")


def _job_error_markdown(what: str, error: str | None) -> str:
    """The alert text for a failed job: the message, never a traceback."""
    error = error or "unknown error"
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


# ----------------------------------------------------------------------------------
# Hierarchy view (teaching)
# ----------------------------------------------------------------------------------

# Markdown eats a backslash before punctuation, so display math avoids thin spaces and
# double bars (uses ~ and \Vert instead).
HIERARCHY_MD = r"""
### Why the moments do not close

Prey X and predators Y live on an L × L periodic lattice, one molecule per site.
Per unit time a prey reproduces with rate k<sub>1</sub>, a predator dies with rate
k<sub>2</sub>, and every molecule tries one hop to a random neighbour; when a hop hits
an X-Y pair the prey becomes a predator with probability p<sub>3</sub>. Taking
expectations, the **counts** depend on the **pairs** (a predation needs an X next to
a Y):

$$
\frac{d\langle n_X\rangle}{dt} \approx
k_1\langle n_X\rangle - c~p_3\langle N_{XY}\rangle,
\qquad
\frac{d\langle n_Y\rangle}{dt} \approx
c~p_3\langle N_{XY}\rangle - k_2\langle n_Y\rangle
$$

with c the chance per step that one of the two molecules of a bond hops onto the
other (c = 1/2 to first order for four neighbours; (8 − p<sub>3</sub>)/16 following
one bond through the hop sweep). The equations for the pairs
⟨N<sub>AB</sub>⟩ in turn contain **triplets** ⟨N<sub>ABC</sub>⟩, those contain
quadruplets, and so on: the *moment hierarchy* never closes by itself. A **closure**
cuts it by expressing the higher moments through lower ones.

### Mean field: forget space

Molecules are placed at random given the counts (N = L² sites, 2N bonds), so a pair
count follows from the two counts:

$$
\langle N_{XY}\rangle \approx \frac{4 n_X n_Y}{N-1},
\qquad
\langle N_{AA}\rangle \approx \frac{2 n_A (n_A-1)}{N-1}
$$

The counts then obey ordinary Lotka-Volterra equations. Mean field ignores that
predators cluster where they were born (next to eaten prey), so it overestimates
predation.

### Pair approximation: keep neighbours, forget the rest

Pairs get their own equations; triplets are closed through the pairs they share:

$$
\langle N_{ABC}\rangle \approx
\frac{\langle N_{AB}\rangle \langle N_{BC}\rangle}{\langle n_B\rangle}
$$

This keeps the correlation between neighbours but not longer-range structure.

### Learned closure: dynamic Boltzmann distributions

Instead of a formula, DBD learns a whole **distribution** over lattices, a deep
Boltzmann machine with visible biases, hidden layers and weights θ(t):

$$
p(s;\theta(t)) \propto e^{-E(s;\theta(t))},
\qquad
\frac{d\theta}{dt} = F(\theta),
\qquad
\min_F \int_0^T D_{KL}\left(p_{data}(t) \Vert p_{\theta(t)}\right) dt
$$

The right-hand side F is fitted to the simulated lattices with an adjoint method
(`ALGORITHM.md` sections 3-5). Any moment, including the pairs and triplets the
hierarchy needs, is then an expectation under p(s; θ(t)).

*The exact per-step rates the dbdviz closures integrate (births in continuous time,
predation during the hop sweep) are derived in `docs/hierarchy.md`.*
"""


CHANNELS_MD = r"""
### The learned closure, channel by channel

Under the learned distribution every moment Q moves because the parameters move:

$$
\frac{d\langle Q\rangle}{dt} = \sum_k \mathrm{Cov}(Q, M_k)~\frac{d\theta_k}{dt}
$$

(M<sub>k</sub> is the statistic that parameter θ<sub>k</sub> multiplies in the
energy). Each term is one *channel*: the plot shows which parameter carries which
part of the change of ⟨Q⟩, their sum, and the derivative of the simulated mean
(finite differences; the black curve low-pass filtered like the channels).
"""

CHANNEL_OBSERVABLES = ["X", "Y", "nnXX", "nnXY", "nnYY"]


class HierarchyView(Viewer):
    """Equations of the moment hierarchy and its closures, for teaching; once the
    session has an evaluated model, the closure channels of the learned DBD
    (:meth:`dbdviz.dbd.Evaluation.channels`) against the simulation's derivative."""

    observable = param.Selector(
        default="X", objects=CHANNEL_OBSERVABLES, label="Observable Q"
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        self._pane = pn.pane.Markdown(
            HIERARCHY_MD, sizing_mode="stretch_width", max_width=860
        )
        self.observable_select = pn.widgets.Select.from_param(
            self.param.observable,
            **_kw(pn.widgets.Select, label="Observable Q", width=200),
        )
        self.channels_pane = pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=400
        )
        self.channels_info = pn.pane.Markdown(
            "_The channels of the learned closure appear here after training and "
            "its evaluation (Training tab)._",
            sizing_mode="stretch_width",
        )
        self.channels_box = pn.Column(
            pn.pane.Markdown(CHANNELS_MD, sizing_mode="stretch_width", max_width=860),
            self.observable_select,
            self.channels_pane,
            sizing_mode="stretch_width",
            visible=False,
        )
        self.session.param.watch(self._refresh, ["evaluation", "simulation"])
        self.param.watch(self._refresh, "observable")
        self._layout = pn.Column(
            self._pane,
            self.channels_info,
            self.channels_box,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def channel_data(self) -> dict[str, Any] | None:
        """Data of the channels plot for the current observable, or None.

        Returns
        -------
        dict
            ``t`` (n,), ``channels`` (n, P), ``names``, ``sum`` (n,), and from the
            simulation over the model's times ``true_t`` (m,), ``true`` (m,),
            ``true_smooth`` (m,) (absent without a simulation).
        """
        ev = self.session.evaluation
        if ev is None:
            return None
        from ..dbd import lowpass, moment_derivative

        obs = self.observable
        ch = ev.channels(obs)
        out = {
            "t": ch["t"],
            "channels": ch["channels"][obs],
            "names": list(ch["param_names"]),
            "sum": ch["sum"][obs],
        }
        sim = self.session.simulation
        if sim is not None and obs in sim.mean and ev.t.size:
            part = sim.slice(t_max=float(ev.t[-1]))
            if part.t.shape[0] >= 2:
                d = moment_derivative(part, obs)
                out["true_t"], out["true"] = d["t"], d[obs]
                taps = int(ev.meta.get("lowpass_taps", 63) or 0)
                out["true_smooth"] = lowpass(
                    d[obs],
                    taps if taps > 1 else 0,
                    padding=ev.meta.get("lowpass_padding", "odd"),
                )
        return out

    def _refresh(self, *_events) -> None:
        try:
            data = self.channel_data()
        except ValueError as exc:  # e.g. a single chain: no covariances
            self.channels_info.object = f"_No channels for this model: {exc}_"
            self.channels_box.visible = False
            return
        if data is None:
            self.channels_box.visible = False
            self.channels_info.object = (
                "_The channels of the learned closure appear here after training "
                "and its evaluation (Training tab)._"
            )
            return
        self.channels_pane.object = plots.channels_overlay(
            data["t"],
            data["channels"],
            data["names"],
            data["sum"],
            self.observable,
            data.get("true_t"),
            data.get("true"),
            data.get("true_smooth"),
        )
        ev = self.session.evaluation
        self.channels_info.object = (
            f"_Learned closure evaluated with {ev.table.n} chains per time point "
            f"(theta low-pass {ev.meta.get('lowpass_taps')} taps, covariances from "
            f"{ev.meta.get('cov_from')})._"
        )
        self.channels_box.visible = True


# ----------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------


class ExportPanel(Viewer):
    """Downloads: moment tables (CSV), the moments figure (HTML), the ensemble and
    the trained model (.npz, loadable with ``Ensemble.load`` / ``DBDModel.load``).

    PNG is not offered: bokeh's PNG export needs selenium and a web driver, and the
    matplotlib backend is not a dependency; the HTML figure is self-contained.
    """

    def __init__(
        self,
        session: Session | None = None,
        moments: MomentsView | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.session = _session_or_new(session)
        self.moments = moments if moments is not None else MomentsView(self.session)
        self.table = _widget(
            pn.widgets.Select, label="Table", options=["simulation"], width=220
        )
        self.csv_download = _download(
            self.table_csv, "moments_simulation.csv", "Download moment table (CSV)"
        )
        self.html_download = _download(
            self.figure_html, "moments.html", "Download figure (HTML)"
        )
        self.npz_download = _download(
            self.ensemble_npz, "ensemble.npz", "Download ensemble (.npz)"
        )
        self.model_download = _download(
            self.model_npz,
            "dbd_model.npz",
            "Download trained model (.npz)",
            disabled=True,
        )
        self.table.param.watch(self._on_table, "value")
        self.session.param.watch(self._on_model, "model")
        self.session.param.watch(
            self._on_tables,
            ["simulation", "closures", "learned", "reference", "sim_config"],
        )
        self._on_tables()
        self._layout = pn.Column(
            "### Export",
            pn.Row(self.table, self.csv_download),
            self.html_download,
            self.npz_download,
            self.model_download,
            pn.pane.Markdown(
                "CSV columns follow the dbdviz moment-table layout (`t, n, mean_X, "
                "sd_X, ...`). The figure is a standalone HTML file (interactive "
                "Bokeh). PNG export is not offered: it would need selenium and a "
                "browser driver."
            ),
        )

    def __panel__(self):
        return self._layout

    def tables(self) -> dict[str, MomentTable]:
        out = {}
        if self.session.simulation is not None:
            out["simulation"] = self.session.simulation
        out.update(self.moments.model_tables())
        return out

    def _on_tables(self, *_events) -> None:
        names = list(self.tables()) or ["simulation"]
        self.table.options = names
        if self.table.value not in names:
            self.table.value = names[0]
        self._on_table()

    def _on_table(self, *_events) -> None:
        self.csv_download.filename = f"moments_{self.table.value}.csv"

    def table_csv(self) -> io.BytesIO:
        t = self.tables().get(self.table.value)
        text = t.to_csv() if t is not None else "t,n\n"
        return io.BytesIO(text.encode("utf-8"))

    def figure_html(self) -> io.BytesIO:
        """The moments figure as a standalone HTML file.

        Rendered with a throwaway document as Panel's current document: Panel takes
        the stylesheet models of new components from the cache of the *current*
        document (the session's, inside the download callback) and then rewrites
        their URLs for the document being saved (CDN), which would switch the
        session's own stylesheets (``listpanel.css``, ``loading.css``) to the CDN.
        """
        from bokeh.document import Document
        from panel.io.state import set_curdoc

        buf = io.BytesIO()
        with set_curdoc(Document()):
            hv.save(
                self.moments.figure(),
                buf,
                fmt="html",
                backend="bokeh",
                resources="inline",
            )
        buf.seek(0)
        return buf

    def _on_model(self, event) -> None:
        self.model_download.disabled = event.new is None

    @staticmethod
    def _npz_bytes(obj, name: str) -> io.BytesIO:
        """``obj.save`` (atomic ``.npz`` writer) into memory via a temp file; empty
        bytes when there is nothing to save."""
        if obj is None:
            return io.BytesIO(b"")
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / name
            obj.save(p)
            return io.BytesIO(p.read_bytes())

    def model_npz(self) -> io.BytesIO:
        """The session's model as ``.npz`` bytes (``DBDModel.save``)."""
        return self._npz_bytes(self.session.model, "dbd_model.npz")

    def ensemble_npz(self) -> io.BytesIO:
        """The session's ensemble as ``.npz`` bytes (``Ensemble.save``)."""
        return self._npz_bytes(self.session.ensemble, "ensemble.npz")
