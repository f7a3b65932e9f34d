"""The phase plane: predators Y against prey X for the simulation, the closures and
the learned curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from panel.viewable import Viewer

from .. import plots
from ..live import CurveSlot
from ..session import Session, session_or_new
from .moments_view import CURVE_LABELS

__all__ = ["PhaseView"]

#: Drawn in this order (the simulation underneath).
_KINDS = ("simulation", "mean-field", "pair", "dbd")


class PhaseView(Viewer):
    """Y against X over time: oscillations are loops, extinction runs to the X axis.

    Shows the simulation mean, the mean-field and pair closures and the learned curve
    (while it trains, its newest estimate), each in the colour and dash of the
    moments view.
    """

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        #: The learned curve: live estimates replace its data only (no redraw).
        self.learned_slot = CurveSlot(CURVE_LABELS["dbd"])
        self.pane = pn.pane.HoloViews(
            self.figure(), sizing_mode="stretch_width", min_height=420
        )
        self.session.param.watch(
            self._refresh, ["simulation", "closures", "presentation"]
        )
        self.session.param.watch(self._on_learned, "learned")
        self._layout = pn.Column(
            pn.pane.Markdown(
                "Each curve runs from the dot (t = 0) forward in time: a loop is an "
                "oscillation, a curve that ends on the X axis is the predators dying "
                "out.",
                sizing_mode="stretch_width",
            ),
            self.pane,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def curves(self) -> list[tuple[str, str, Any, Any]]:
        """(kind, label, mean X, mean Y) of every table that has both; with a
        simulation the learned curve always (empty until there is one)."""
        s = self.session
        tables = {"simulation": s.simulation, **s.closures, "dbd": s.learned}
        out = []
        for kind in _KINDS:
            tab = tables.get(kind)
            if tab is not None and "X" in tab.mean and "Y" in tab.mean:
                label = CURVE_LABELS.get(kind, kind)
                if kind == "simulation":
                    label = f"simulation mean (n={tab.n})"
                out.append((kind, label, tab.mean["X"], tab.mean["Y"]))
            elif kind == "dbd" and s.simulation is not None:
                out.append((kind, CURVE_LABELS[kind], np.zeros(0), np.zeros(0)))
        return out

    def figure(self):
        title = "phase plane: predators Y against prey X"
        if self.session.simulation is None:
            title += " (press Simulate)"
        self.learned_slot.clear()
        return plots.phase_plane(
            self.curves(), title=title, presentation=self.session.presentation
        ).opts(hooks=[self.learned_slot.hook])

    def _refresh(self, *_events) -> None:
        self.pane.object = self.figure()

    def _on_learned(self, event) -> None:
        new = event.new
        ok = new is not None and "X" in new.mean and "Y" in new.mean
        if not (ok and self.learned_slot.set(new.mean["X"], new.mean["Y"], self.pane)):
            self._refresh()
