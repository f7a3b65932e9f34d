"""Bokeh line plots for the high-rate live streams of the training panel.

Redrawing a HoloViews overlay from a ``Pipe``/``Buffer`` rebuilds every element and
recomputes every range, tens of milliseconds per plot on an idle machine and several
times that while a training thread competes for the interpreter: too slow for
5-10 Hz. :class:`LiveLines` keeps the ``hv.streams`` objects as the data channel
(STYLE.md "Live plots") and subscribes to them a plain Bokeh figure whose single
``ColumnDataSource`` is replaced (a ``Pipe`` frame) or extended with the new rows only
(a ``Buffer``): one small message per update. Axes follow the data (data ranges).

:class:`CurveSlot` does the same for one labelled curve of a HoloViews overlay (the
learned curve of the moments and phase views): the figure is drawn once with the
curve, possibly empty, and new data replace that curve's data source only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FixedTicker, Legend, LegendItem
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

__all__ = ["LiveLines", "CurveSlot"]


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
        if self.log_y:  # 1-2-5 per decade: labels that never overlap (LOG_TICKS)
            from .plots import LOG_TICKS

            fig.yaxis.ticker = FixedTicker(ticks=list(LOG_TICKS))
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
        """No rows, these series (e.g. a new training run).

        The same series as now: the figure stays and only its data is emptied (one
        small message, no new plot for the browser to build); other series: a new
        figure.
        """
        names = [str(n) for n in names]
        self.n_rows = 0
        if names == self.names and self.source is not None:
            self.source.data = {"x": np.zeros(0), **{n: np.zeros(0) for n in names}}
            return
        self.names = names
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

    def overlay(self):
        """The series as a HoloViews overlay (the colours, labels, title and y scale
        of the figure), for a PNG (:func:`dbdviz.ui.png.figures_png`)."""
        import holoviews as hv

        data = self.source.data if self.source is not None else {}
        x = np.asarray(data.get("x", np.zeros(0)), dtype=np.float64)
        kd, vd = (
            hv.Dimension("x", label=self.x_label),
            hv.Dimension("y", label=self.y_label),
        )
        curves = [
            hv.Curve(
                (x, np.asarray(data[n], dtype=np.float64)),
                kdims=[kd],
                vdims=[vd],
                label=n,
            ).opts(color=Category10_10[k % len(Category10_10)], line_width=2)
            for k, n in enumerate(self.names)
            if n in data
        ] or [hv.Curve(([], []), kdims=[kd], vdims=[vd])]
        return hv.Overlay(curves).opts(title=self.title, logy=self.log_y)

    def extend(self, x, columns: Mapping[str, np.ndarray]) -> None:
        """Append rows (only the new rows are sent to the browser)."""
        new = self._columns(x, columns)
        if new["x"].size:
            self.source.stream(new)
            self.n_rows += int(new["x"].size)


class CurveSlot:
    """One labelled curve of a rendered HoloViews overlay, updated in place.

    Give :meth:`hook` to the overlay (``overlay.opts(hooks=[slot.hook])``): each
    time the overlay is rendered (once per browser root) it finds the legend item
    labelled :attr:`label` and remembers its renderer; an empty curve has its legend
    entry hidden. :meth:`set` then replaces that renderer's data (and shows the
    entry): milliseconds, where a HoloViews update of the overlay costs hundreds of
    milliseconds on a loaded machine and the browser builds a new plot.

    Parameters
    ----------
    label : str
        Legend label of the curve.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        #: (glyph renderer, legend item) of every rendered copy of the overlay.
        self.items: list[tuple[object, object]] = []

    def clear(self) -> None:
        """Forget the renderers (a new overlay is about to be shown)."""
        self.items = []

    def hook(self, plot, element) -> None:
        """HoloViews plot hook of the overlay (see the class doc)."""
        for legend in plot.state.legend:
            for item in legend.items:
                text = item.label
                text = text.get("value") if isinstance(text, dict) else text
                if getattr(text, "value", text) == self.label and item.renderers:
                    r = item.renderers[0]
                    item.visible = bool(len(r.data_source.data.get(r.glyph.x, ())))
                    self.items.append((r, item))

    def set(self, x, y, pane=None) -> bool:
        """Show ``(x, y)`` in every rendered copy; False when none is rendered.

        ``pane``: the Panel pane showing the overlay, pushed to a notebook front end
        (in a server the document sends the change itself).
        """
        if not self.items:
            return False
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        for r, item in self.items:
            r.data_source.data = {r.glyph.x: x, r.glyph.y: y}
            item.visible = True
        if pane is not None:
            pn.io.push_notebook(pane)  # a notebook; nothing in a server
        return True

    def data(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x, y)`` as the first rendered copy holds it, or None."""
        if not self.items:
            return None
        r = self.items[0][0]
        d = r.data_source.data
        return np.asarray(d[r.glyph.x]), np.asarray(d[r.glyph.y])
