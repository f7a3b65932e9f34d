"""The Training tab's depth comparison: the diagonal (NNN) pairs of every trained
DBM depth side by side (issue 14, "Show it")."""

from __future__ import annotations

import logging
import math
from typing import Any

import holoviews as hv
import panel as pn
from panel.viewable import Viewer

from .. import plots
from ..session import Session, session_or_new

__all__ = ["DepthComparison", "depth_result", "NNN_OBSERVABLES", "DEPTH_OBSERVABLES"]

log = logging.getLogger(__name__)

#: The diagonal pairs: a depth-0 machine only predicts them, hidden units can hold
#: them (docs/training.md, "Depth").
NNN_OBSERVABLES = ("nnnXX", "nnnXY", "nnnYY")
#: The columns of the error table.
DEPTH_OBSERVABLES = ("X", "Y", "nnXX", "nnXY", "nnYY") + NNN_OBSERVABLES
#: Colour and dash per depth (the plot shows the simulation and the depths only).
_STYLE = {
    0: ("#D55E00", "solid"),
    1: ("#0072B2", "dashed"),
    2: ("#009E73", "dotdash"),
    3: ("#CC79A7", "dotted"),
}


def depth_result(table, simulation) -> dict[str, Any]:
    """What the comparison keeps of one trained depth: the evaluation's moment
    table and its NRMSE against the simulation mean per observable of
    :data:`DEPTH_OBSERVABLES` (those both tables have)."""
    from ...compare import nrmse

    obs = [o for o in DEPTH_OBSERVABLES if o in table.mean and o in simulation.mean]
    try:
        errors = {k: float(v) for k, v in nrmse(table, simulation, obs).items()}
    except ValueError as exc:  # incompatible tables: keep the curves, no errors
        log.info("depth comparison nrmse failed: %s", exc)
        errors = {}
    return {"table": table, "errors": errors}


class DepthComparison(Viewer):
    """NNN curves of the simulation and of the last model trained at each depth,
    with a table of their errors (``Session.depth_results``; a new simulation
    clears it)."""

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        # drawn only once a depth has a result (no plots to render before)
        self.pane = pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=320, visible=False
        )
        self.table_pane = pn.pane.Markdown(self.markdown(), sizing_mode="stretch_width")
        self.session.param.watch(
            self._refresh, ["depth_results", "simulation", "presentation"]
        )
        self._layout = pn.Column(
            "### Depth comparison: the diagonal (NNN) pairs",
            pn.pane.Markdown(
                "The last model trained at each DBM depth on this ensemble. A fully "
                "visible machine (depth 0) only predicts the diagonal pairs; hidden "
                "units can learn them.",
                sizing_mode="stretch_width",
            ),
            self.table_pane,
            self.pane,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    @property
    def depths(self) -> list[int]:
        """The depths with a result, ascending."""
        return sorted(self.session.depth_results)

    def curves(self, obs: str) -> list[tuple[str, str, Any, Any]]:
        """(kind, label, t, mean) of the simulation and every depth for ``obs``."""
        s = self.session
        out = []
        sim = s.simulation
        if sim is not None and obs in sim.mean:
            label = f"simulation mean (n={sim.n})"
            out.append(("simulation", label, sim.t, sim.mean[obs]))
        for d in self.depths:
            tab = s.depth_results[d]["table"]
            if obs in tab.mean:
                out.append((f"depth {d}", f"depth {d}", tab.t, tab.mean[obs]))
        return out

    def figure(self):
        st = plots.plot_style(self.session.presentation)
        panels = []
        for obs in NNN_OBSERVABLES:
            items = []
            for kind, label, t, mean in self.curves(obs):
                curve = plots.moment_curve(t, mean, obs, label, kind, st["line_scale"])
                if kind != "simulation":
                    color, dash = _STYLE.get(int(kind.split()[1]), ("#444444", "solid"))
                    curve = curve.opts(color=color, line_dash=dash)
                items.append(curve)
            if not items:
                items = [hv.Curve(([], []), kdims=[plots.TIME], vdims=[obs])]
            panels.append(
                hv.Overlay(items).opts(
                    title=obs,
                    legend_position="top_left",
                    responsive=True,
                    min_height=300,
                    show_grid=True,
                    fontscale=st["fontscale"],
                )
            )
        return hv.Layout(panels).cols(3)

    def markdown(self) -> str:
        if not self.depths:
            return (
                "_Train at one or more depths (DBM depth, then **Train**): each "
                "depth's result is kept here until the next simulation._"
            )
        head = "| NRMSE vs simulation | " + " | ".join(DEPTH_OBSERVABLES) + " |"
        sep = "|---" * (len(DEPTH_OBSERVABLES) + 1) + "|"
        rows = []
        for d in self.depths:
            err = self.session.depth_results[d]["errors"]
            cells = [
                f"{100 * err[o]:.1f} %" if math.isfinite(err.get(o, math.nan)) else "-"
                for o in DEPTH_OBSERVABLES
            ]
            rows.append(f"| depth {d} | " + " | ".join(cells) + " |")
        return "\n".join([head, sep, *rows])

    def _refresh(self, *_events) -> None:
        self.table_pane.object = self.markdown()
        shown = bool(self.depths)
        if shown:
            self.pane.object = self.figure()
        elif self.pane.visible:
            self.pane.object = None
        self.pane.visible = shown
