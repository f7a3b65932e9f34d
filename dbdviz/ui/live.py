"""Bokeh line plots for the high-rate live streams of the training panel.

Redrawing a HoloViews overlay from a ``Pipe``/``Buffer`` rebuilds every element and
recomputes every range, tens of milliseconds per plot on an idle machine and several
times that while a training thread competes for the interpreter: too slow for
5-10 Hz. :class:`LiveLines` keeps the ``hv.streams`` objects as the data channel
(STYLE.md "Live plots") and subscribes to them a plain Bokeh figure whose single
``ColumnDataSource`` is replaced (a ``Pipe`` frame) or extended with the new rows only
(a ``Buffer``): one small message per update. Axes follow the data (data ranges).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Legend, LegendItem
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

__all__ = ["LiveLines"]


class LiveLines:
    """A Bokeh figure of named line series sharing one x column.

    Parameters
    ----------
    title, x_label, y_label : str
    log_y : bool
        Logarithmic y axis; values <= 0 are drawn as gaps (NaN).
    height : int
        Pixels; the width stretches.
    name : str
        Name of the ``ColumnDataSource`` (how browser tests find it).

    Attributes
    ----------
    pane : pn.pane.Bokeh
        What the layout shows; its figure is replaced by :meth:`reset`.
    source : ColumnDataSource or None
        Columns ``x`` and one per series (float64).
    names : list of str
    """

    def __init__(
        self,
        title: str,
        x_label: str,
        y_label: str,
        log_y: bool = False,
        height: int = 300,
        name: str = "",
    ) -> None:
        self.title, self.x_label, self.y_label = title, x_label, y_label
        self.log_y, self.height, self.name = log_y, height, name
        self.names: list[str] = []
        self.source: ColumnDataSource | None = None
        self.n_rows = 0
        self.pane = pn.pane.Bokeh(
            self._figure([]), sizing_mode="stretch_width", height=height
        )

    def _figure(self, names: Sequence[str]):
        fig = figure(
            title=self.title,
            height=self.height,
            sizing_mode="stretch_width",
            y_axis_type="log" if self.log_y else "linear",
            tools="pan,wheel_zoom,box_zoom,reset,save",
            x_axis_label=self.x_label,
            y_axis_label=self.y_label,
        )
        self.source = ColumnDataSource(
            {"x": np.zeros(0), **{n: np.zeros(0) for n in names}},
            name=self.name or None,
        )
        items = []
        for k, n in enumerate(names):
            r = fig.line(
                "x",
                n,
                source=self.source,
                line_width=2,
                color=Category10_10[k % len(Category10_10)],
            )
            items.append(LegendItem(label=n, renderers=[r]))
        if items:
            fig.add_layout(
                Legend(items=items, click_policy="hide", title="parameter"), "right"
            )
        return fig

    def reset(self, names: Sequence[str]) -> None:
        """A new, empty figure with these series (e.g. a new training run)."""
        self.names = [str(n) for n in names]
        self.n_rows = 0
        self.pane.object = self._figure(self.names)

    def _columns(self, x, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {"x": np.asarray(x, dtype=np.float64)}
        for n in self.names:
            v = np.asarray(columns[n], dtype=np.float64)
            out[n] = np.where(v > 0, v, np.nan) if self.log_y else v
        return out

    def replace(self, x, columns: Mapping[str, np.ndarray]) -> None:
        """Show exactly these rows (a whole frame).

        Parameters
        ----------
        x : ndarray of float64, shape (n,)
        columns : mapping name -> ndarray of float64, shape (n,)
            One array per series of :attr:`names`.
        """
        self.source.data = self._columns(x, columns)
        self.n_rows = len(self.source.data["x"])

    def extend(self, x, columns: Mapping[str, np.ndarray]) -> None:
        """Append rows (only the new rows are sent to the browser)."""
        new = self._columns(x, columns)
        if new["x"].size:
            self.source.stream(new)
            self.n_rows += int(new["x"].size)
