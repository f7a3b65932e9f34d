"""The regime map: what happens over a grid of two rates, and where closures hold."""

from __future__ import annotations

import time
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ...sweeps import LAYERS, check_grid
from .. import plots
from .._compat import widget
from ..cluster import SharedCluster, shared, sweep_work
from ..jobs import Job, JobState
from ..session import Session, session_or_new

__all__ = ["RegimeMap", "MAP_LAYERS", "RATES", "DEFAULT_RANGES"]

#: The rates a map can span.
RATES = ("birth", "death", "predation")
#: Default range of each rate (around the paper's 0.025, 0.06, 0.4).
DEFAULT_RANGES = {"birth": (0.01, 0.05), "death": (0.03, 0.12), "predation": (0.1, 0.9)}
#: Layer label -> the sweep variables it averages, and its colour range (None: auto).
MAP_LAYERS: dict[str, tuple[tuple[str, ...], tuple[float, float] | None]] = {
    "Predators die out (fraction of runs)": (("frac_Y_extinct",), (0.0, 1.0)),
    "Prey die out (fraction of runs)": (("frac_X_extinct",), (0.0, 1.0)),
    "Mean prey X (time average)": (("mean_X",), None),
    "Mean predators Y (time average)": (("mean_Y",), None),
    "Oscillation period of Y": (("period",), None),
    "Mean-field error (NRMSE of X and Y)": (
        ("nrmse_mean_field_X", "nrmse_mean_field_Y"),
        None,
    ),
    "Pair-approximation error (NRMSE of X and Y)": (
        ("nrmse_pair_X", "nrmse_pair_Y"),
        None,
    ),
}

INTRO = (
    "**Regime map.** Every cell is an ensemble of the model on the left with two "
    "rates changed: where predators die out, how many prey and predators live on, "
    "whether they oscillate, and how far the closures are from the simulation. "
    "Cells are computed on a Dask cluster and appear as they finish. The cross "
    "marks the model's current rates; **click a cell** to load its rates into the "
    "model."
)


class RegimeMap(Viewer):
    """A sweep over two rates through a Dask cluster, drawn cell by cell.

    ``Run map`` starts :func:`dbdviz.sweep` over the grid (the other parameters are
    the session's model, with ``replicates`` per cell) on the server's cluster
    (:mod:`dbdviz.ui.cluster`); ``Cancel`` cancels its pending tasks. The layer
    selector picks the quantity drawn; a click on a cell sets the session's two
    rates to the cell's.
    """

    x_param = param.Selector(default="birth", objects=list(RATES), label="x rate")
    x_start = param.Number(default=0.01, bounds=(0, 10), label="x from")
    x_stop = param.Number(default=0.05, bounds=(0, 10), label="x to")
    x_cells = param.Integer(default=8, bounds=(1, 50), label="x cells")
    y_param = param.Selector(default="death", objects=list(RATES), label="y rate")
    y_start = param.Number(default=0.03, bounds=(0, 10), label="y from")
    y_stop = param.Number(default=0.12, bounds=(0, 10), label="y to")
    y_cells = param.Integer(default=6, bounds=(1, 50), label="y cells")
    replicates = param.Integer(
        default=50, bounds=(2, 10_000), label="Replicates per cell"
    )
    layer = param.Selector(
        default=next(iter(MAP_LAYERS)), objects=list(MAP_LAYERS), label="Layer"
    )

    def __init__(
        self,
        session: Session | None = None,
        cluster: SharedCluster | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.cluster = cluster if cluster is not None else shared()
        self.job: Job | None = None
        self.values: dict[str, np.ndarray] = {}
        self.xs = self.ys = None
        self.axes = (self.x_param, self.y_param)
        self.cells_done = 0
        self.first_cell_seconds: float | None = None
        self.seconds: float | None = None
        self.settings = pn.Param(
            self,
            parameters=[
                "x_param",
                "x_start",
                "x_stop",
                "x_cells",
                "y_param",
                "y_start",
                "y_stop",
                "y_cells",
                "replicates",
                "layer",
            ],
            show_name=False,
            width=300,
            widgets={
                "x_cells": {"type": pn.widgets.IntInput},
                "y_cells": {"type": pn.widgets.IntInput},
                "replicates": {"type": pn.widgets.IntInput},
                "x_start": {"type": pn.widgets.FloatInput, "step": 0.001},
                "x_stop": {"type": pn.widgets.FloatInput, "step": 0.001},
                "y_start": {"type": pn.widgets.FloatInput, "step": 0.001},
                "y_stop": {"type": pn.widgets.FloatInput, "step": 0.001},
            },
        )
        self.run_button = widget(pn.widgets.Button, label="Run map", color="primary")
        self.cancel_button = widget(
            pn.widgets.Button, label="Cancel", color="warning", disabled=True
        )
        self.run_button.on_click(self.run)
        self.cancel_button.on_click(self.cancel)
        self.progress = pn.indicators.Progress(value=0, max=1, width=300, height=18)
        self.status = pn.pane.Markdown("Press **Run map**.", width=300)
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, width=300)
        self.pipe = hv.streams.Pipe(data=self._frame())
        self.marker_pipe = hv.streams.Pipe(data=self._marker_data())
        self.heat = hv.DynamicMap(
            lambda data: plots.regime_heatmap(*data), streams=[self.pipe]
        )
        marker = hv.DynamicMap(
            lambda data: plots.rate_marker(*data), streams=[self.marker_pipe]
        )
        self.tap = hv.streams.Tap(source=self.heat, x=None, y=None)
        self.tap.add_subscriber(self._on_tap)
        # stretch_width with a minimum height: stretch_both made every layout
        # around it (the tabs, a notebook's explorer) stretch_both with a warning
        self.plot = pn.pane.HoloViews(
            self.heat * marker, sizing_mode="stretch_width", min_height=480
        )
        self.param.watch(self._on_layer, "layer")
        self.param.watch(self._on_axis, ["x_param", "y_param"])
        self.session.config.param.watch(self._on_rates, list(RATES))
        self._layout = pn.Column(
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column(
                    self.settings,
                    pn.Row(self.run_button, self.cancel_button),
                    self.progress,
                    self.status,
                    self.alert,
                    width=320,
                ),
                self.plot,
                sizing_mode="stretch_width",
                min_height=480,
            ),
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    # -- the grid -------------------------------------------------------------------
    def grid(self) -> dict[str, np.ndarray]:
        """``{x_param: values, y_param: values}`` of the current settings."""
        from ...sweeps import parse_vary

        out = {}
        for ax in ("x", "y"):
            name = getattr(self, f"{ax}_param")
            start, stop = getattr(self, f"{ax}_start"), getattr(self, f"{ax}_stop")
            n = getattr(self, f"{ax}_cells")
            out[name] = parse_vary(f"{name}={start!r}:{stop!r}:{n}")[1]
        return out

    def _on_axis(self, event) -> None:
        ax = event.name[0]
        lo, hi = DEFAULT_RANGES[event.new]
        self.param.update(**{f"{ax}_start": lo, f"{ax}_stop": hi})
        self.marker_pipe.send(self._marker_data())

    # -- drawing --------------------------------------------------------------------
    def layer_values(self, layer: str | None = None) -> np.ndarray | None:
        """The drawn array, shape (y cells, x cells), of ``layer`` (default: the
        selected one); None before a map was started."""
        names, _ = MAP_LAYERS[layer or self.layer]
        if not self.values:
            return None
        z = np.mean([self.values[n] for n in names], axis=0)
        return z.T  # sweep order (x, y) -> rows of y

    def _frame(self) -> tuple:
        xname, yname = self.axes
        names, clim = MAP_LAYERS[self.layer]
        z = self.layer_values()
        if z is None:  # no map yet: the empty grid of the settings
            xname, yname = self.x_param, self.y_param
            try:
                g = self.grid()
                xs, ys = g[xname], g.get(yname, g[xname])
            except ValueError:
                xs, ys = np.array([self.x_start]), np.array([self.y_start])
            z = np.full((ys.size, xs.size), np.nan)
        else:
            xs, ys = self.xs, self.ys
        return (xs, ys, z, xname, yname, self.layer, clim)

    def _marker_data(self) -> tuple:
        cfg = self.session.config
        xname, yname = self.axes if self.values else (self.x_param, self.y_param)
        return (getattr(cfg, xname), getattr(cfg, yname), xname, yname)

    def _on_layer(self, *_events) -> None:
        self.pipe.send(self._frame())

    def _on_rates(self, *_events) -> None:
        self.marker_pipe.send(self._marker_data())

    def _on_tap(self, x=None, y=None) -> None:
        if x is None or y is None or self.xs is None:
            return
        ix = int(np.argmin(np.abs(self.xs - x)))
        iy = int(np.argmin(np.abs(self.ys - y)))
        self.load_cell(ix, iy)

    def load_cell(self, ix: int, iy: int) -> None:
        """Set the session's two rates to those of cell ``(ix, iy)``."""
        xname, yname = self.axes
        xv, yv = float(self.xs[ix]), float(self.ys[iy])
        self.session.config.param.update(**{xname: xv, yname: yv})
        self.status.object = (
            f"Loaded {xname} = {xv:g}, {yname} = {yv:g} into the model "
            "(press **Simulate** to look closer)."
        )

    # -- the job --------------------------------------------------------------------
    def prepare(self) -> None:
        """Start the cluster in the background (the app calls it when the map's tab
        is first shown), so that it is ready when ``Run map`` is pressed."""
        self.cluster.start()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def _show_error(self, text: str) -> None:
        self.alert.object = text
        self.alert.visible = True

    def run(self, event=None) -> Job | None:
        """Start the map (the ``Run map`` button's handler)."""
        if self.running:
            return self.job
        self.alert.visible = False
        if self.x_param == self.y_param:
            self._show_error("Choose two different rates for x and y.")
            return None
        try:
            vary = self.grid()
            cfg = self.session.config.copy(replicates=self.replicates, snapshots=False)
            cells = check_grid(cfg, vary)
        except ValueError as exc:
            self._show_error(f"**Cannot map these settings.** {exc}")
            return None
        self.axes = (self.x_param, self.y_param)
        self.xs, self.ys = vary[self.x_param], vary[self.y_param]
        shape = (self.xs.size, self.ys.size)
        self.values = {k: np.full(shape, np.nan) for k in LAYERS}
        self.cells_done = 0
        self.first_cell_seconds = self.seconds = None
        self.progress.param.update(max=cells, value=0)
        self.status.object = (
            f"Mapping {cells} cells x {self.replicates} replicates on "
            f"{self.cluster.address} ..."
        )
        self.pipe.send(self._frame())
        self.marker_pipe.send(self._marker_data())
        work = sweep_work(self.cluster, cfg, vary)
        self.job = self.session.add_job(
            Job("regime-map", work, self._on_records, self._on_done)
        )
        self._t0 = time.perf_counter()
        self._cells = cells
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        self.job.start()
        return self.job

    def cancel(self, event=None) -> None:
        """Cancel the running map (the ``Cancel`` button's handler)."""
        if self.job is not None and self.job.running:
            self.job.stop()
            self.status.object = "Cancelling ..."

    def _on_records(self, batch: list) -> None:
        drawn = False
        for rec in batch:
            if rec[0] == "cell":
                _, idx, vals = rec
                for k, v in vals.items():
                    self.values[k][idx] = v
                self.cells_done += 1
                if self.first_cell_seconds is None:
                    self.first_cell_seconds = time.perf_counter() - self._t0
                drawn = True
            elif rec[0] == "status":
                self.status.object = rec[1]
        if drawn:
            self.pipe.send(self._frame())
            self.progress.value = self.cells_done
            dt = time.perf_counter() - self._t0
            self.status.object = (
                f"{self.cells_done} / {self._cells} cells, {dt:.1f} s "
                f"(first after {self.first_cell_seconds:.1f} s) ..."
            )

    def _on_done(self, state: str, error: str | None) -> None:
        self.run_button.disabled = False
        self.cancel_button.disabled = True
        self.seconds = dt = time.perf_counter() - self._t0
        if state == JobState.FINISHED:
            self.progress.value = self._cells
            self.status.object = (
                f"Map done: {self._cells} cells in {dt:.1f} s (first cell after "
                f"{self.first_cell_seconds:.1f} s)."
            )
        elif state == JobState.CANCELLED:
            self.status.object = (
                f"Cancelled after {self.cells_done} of {self._cells} cells "
                f"({dt:.1f} s)."
            )
        else:
            self.status.object = "The map failed."
            self._show_error(f"The map failed: {error}")
