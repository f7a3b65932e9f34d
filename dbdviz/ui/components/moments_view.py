"""The moments view: simulation mean and band, closures, the learned curve, NRMSE."""

from __future__ import annotations

import logging
import math
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ...moments import CONTRACT_OBSERVABLES, OBSERVABLES, MomentTable
from .. import plots
from .._compat import kw
from ..live import CurveSlot
from ..session import Session, is_paper_config, same_state, session_or_new
from ..workers import LIVE_LABEL

__all__ = ["MomentsView", "CURVE_OPTIONS", "CURVE_LABELS", "CLOSURE_KEYS"]

log = logging.getLogger("dbdviz.ui")


#: Curve toggles of the moments view: button label -> curve key.
CURVE_OPTIONS = {
    "Simulation": "simulation",
    "95% band": "band",
    "Replicate spread": "spread",
    "Mean field": "mean-field",
    "Pair approx.": "pair",
    "DBD learned": "dbd",
    "DBD predicted": "dbd-predict",
    "C++ reference": "cpp-reference",
}
CURVE_LABELS = {
    "simulation": "simulation mean",
    "mean-field": "mean field",
    "pair": "pair approximation",
    "dbd": "DBD learned",
    "dbd-predict": "DBD prediction (from the initial counts)",
    "cpp-reference": "C++ DBD (paper, low-pass)",
}
#: Keys that are model curves compared with the simulation (NRMSE readout).
CLOSURE_KEYS = ("mean-field", "pair", "dbd", "dbd-predict", "cpp-reference")


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
        default=[
            "simulation",
            "band",
            "mean-field",
            "pair",
            "dbd",
            "dbd-predict",
            "cpp-reference",
        ],
        objects=list(CURVE_OPTIONS.values()),
        label="Curves",
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.observable_select = pn.widgets.Select.from_param(
            self.param.observable,
            **kw(pn.widgets.Select, label="Observable", width=180),
        )
        self.curve_buttons = pn.widgets.CheckButtonGroup.from_param(
            self.param.curves,
            **kw(
                pn.widgets.CheckButtonGroup,
                options=CURVE_OPTIONS,
                color="primary",
                variant="outline",
                label="",
                sizing_mode="stretch_width",
                # the buttons wrap to a second line on a narrow screen or in large type
                stylesheets=[
                    ".bk-btn-group { flex-wrap: wrap; height: auto; row-gap: 4px; }"
                ],
            ),
        )
        self._spread_cache: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        #: The learned curve of the shown figure: new learned moments (a live
        #: estimate while training, then the evaluation) replace its data only (no
        #: HoloViews update, no new plot in the browser).
        self.learned_slot = CurveSlot(CURVE_LABELS["dbd"])
        self.plot_pane = pn.pane.HoloViews(
            self.figure(live=True), sizing_mode="stretch_width", min_height=400
        )
        self.nrmse_pane = pn.pane.Markdown(
            self.nrmse_markdown(), sizing_mode="stretch_width"
        )
        self.session.param.watch(
            self._refresh,
            [
                "simulation",
                "closures",
                "ensemble",
                "reference",
                "prediction",
                "prediction_closures",
                "presentation",
            ],
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
            new is not None
            and obs in new.mean
            and self.learned_slot.set(new.t, new.mean[obs], self.plot_pane)
        ):
            self.nrmse_pane.object = self.nrmse_markdown()
        else:
            self._refresh()

    def _has_learned_slot(self) -> bool:
        """Whether the live figure has a learned curve (possibly empty)."""
        return (
            "dbd" in self.curves
            and self.session.simulation is not None
            and not self.predicting_other_state
        )

    # -- data behind the plot ------------------------------------------------------
    @property
    def predicting_other_state(self) -> bool:
        """A prediction of a state other than the simulation's is shown (then the
        simulation is not, and the closures are those of the predicted state)."""
        s = self.session
        return s.prediction is not None and not same_state(
            s.prediction_config, s.sim_config
        )

    def model_tables(self) -> dict[str, MomentTable]:
        """Closure key -> table for every model curve available now."""
        s = self.session
        if self.predicting_other_state:
            return {**s.prediction_closures, "dbd-predict": s.prediction}
        out = dict(s.closures)
        if s.prediction is not None:
            out["dbd-predict"] = s.prediction
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

    def figure(self, live: bool = False) -> hv.Overlay:
        """The overlay shown for the current observable and curve selection.

        ``live=True`` (the dashboard's plot): with a simulation and "DBD learned"
        selected, the figure always has the learned curve, empty (legend entry
        hidden) until there is one, so that new learned moments only replace its
        data (:attr:`learned_slot`); the default (exports, tests) draws only the
        curves there are.
        """
        obs, show = self.observable, set(self.curves)
        slot = live and self._has_learned_slot()
        if live:
            self.learned_slot.clear()
        sim = None if self.predicting_other_state else self.session.simulation
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
        tables = self.model_tables()
        for key, table in tables.items():
            if key in show and obs in table.mean and not (slot and key == "dbd"):
                curves.append((key, CURVE_LABELS[key], table.t, table.mean[obs]))
        if slot:
            learned = tables.get("dbd")
            t, m = (
                (learned.t, learned.mean[obs])
                if learned is not None and obs in learned.mean
                else (np.zeros(0), np.zeros(0))
            )
            curves.append(("dbd", CURVE_LABELS["dbd"], t, m))
        title = plots._OBS_LABELS.get(obs, obs)
        if self.predicting_other_state:
            c = self.session.prediction_config
            title += (
                f" (prediction from {c.init_x} X + {c.init_y} Y: simulate these "
                "settings to compare)"
            )
        elif sim is None:
            title += " (press Simulate)"
        out = plots.moments_overlay(
            obs, curves, bands, title=title, presentation=self.session.presentation
        )
        return out.opts(hooks=[self.learned_slot.hook]) if slot else out

    def nrmse(self) -> dict[str, dict[str, float]]:
        """Closure key -> {observable: NRMSE against the simulation mean}."""
        sim = self.session.simulation
        if sim is None or self.predicting_other_state:
            return {}
        try:
            from ...compare import nrmse
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
            if self.predicting_other_state:
                return (
                    "_No NRMSE: the prediction is of another state than the "
                    "simulation's._"
                )
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
                name += _learned_note(tables[key]) + ", fit to its training data"
            elif key == "dbd-predict":
                name += f" ({tables[key].n} chains), a prediction"
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join([head, sep, *rows])


def _learned_note(table: MomentTable) -> str:
    """`` (live, step 40, 8 chains, t <= 25)`` for a live estimate, else the chains."""
    t_max = f", t <= {table.t[-1]:g}" if table.t.size else ""
    if table.label.startswith(LIVE_LABEL):
        step = table.label[len(LIVE_LABEL) :].strip()
        return f" (live, {step}, {table.n} chains{t_max})"
    return f" ({table.n} chains{t_max})"
