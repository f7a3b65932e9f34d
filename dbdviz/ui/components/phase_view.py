"""The phase plane: predators Y against prey X for the simulation, the closures and
the learned curve."""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.viewable import Viewer

from .. import plots
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
        self.pane = pn.pane.HoloViews(
            self.figure(), sizing_mode="stretch_width", min_height=420
        )
        self.session.param.watch(
            self._refresh, ["simulation", "closures", "learned", "presentation"]
        )
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
        """(kind, label, mean X, mean Y) of every table that has both."""
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
        return out

    def figure(self):
        title = "phase plane: predators Y against prey X"
        if self.session.simulation is None:
            title += " (press Simulate)"
        return plots.phase_plane(
            self.curves(), title=title, presentation=self.session.presentation
        )

    def _refresh(self, *_events) -> None:
        self.pane.object = self.figure()
