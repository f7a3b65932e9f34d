"""PNG of a dashboard figure, drawn on the server by matplotlib (no browser).

The dashboard's figures are HoloViews overlays styled for Bokeh (:mod:`.plots`). A
PNG through Bokeh needs a browser and its web driver (selenium and chromedriver, or
playwright and a Chromium) on the machine that serves; matplotlib is one wheel on
every platform. :func:`overlay_png` draws the overlay's elements with matplotlib,
reading each element's colour, dash and width from its Bokeh options, so the PNG
keeps the curves' styles (one definition, in :mod:`.plots`).
:func:`figures_png` stacks several overlays (theta(t) over the moment errors) under
one title.
"""

from __future__ import annotations

import io

import holoviews as hv

__all__ = ["overlay_png", "figures_png", "PNG_SIZE"]

#: Default size of an exported PNG in pixels (width, height): a 16:9 slide.
PNG_SIZE = (1600, 900)

#: Bokeh dash names -> matplotlib line styles.
_DASHES = {
    "solid": "-",
    "dashed": "--",
    "dotted": ":",
    "dotdash": "-.",
    "dashdot": "-.",
}
#: Colours of series without a colour of their own (Bokeh's Category10, as the
#: dashboard draws them).
_CYCLE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_DPI = 100
_PX = 72.0 / _DPI  # points per pixel (matplotlib widths and fonts are in points)


def _style(el) -> dict:
    return hv.Store.lookup_options("bokeh", el, "style").kwargs


def _plot_opts(obj) -> dict:
    return hv.Store.lookup_options("bokeh", obj, "plot").kwargs


def _colour(st: dict, default: str) -> str:
    """The element's colour, or ``default`` (a HoloViews colour cycle, no colour)."""
    c = st.get("color")
    return c if isinstance(c, str) else default


def _elements(overlay) -> list[tuple[str | None, hv.Element]]:
    """(label, element) of an Overlay, an NdOverlay (label: its key) or an element."""
    if isinstance(overlay, hv.NdOverlay):
        return [
            (", ".join(str(k) for k in key), el) for key, el in overlay.data.items()
        ]
    if isinstance(overlay, hv.Overlay):
        return [(el.label or None, el) for el in overlay.values()]
    return [(overlay.label or None, overlay)]


def _draw(ax, el, label: str | None, default_colour: str) -> None:
    st = _style(el)
    if isinstance(el, hv.Area):
        x = el.dimension_values(0)
        lo, hi = el.dimension_values(1), el.dimension_values(2)
        ax.fill_between(
            x,
            lo,
            hi,
            color=_colour(st, "#888888"),
            alpha=float(st.get("alpha", 0.3)),
            linewidth=0,
            label=label,
        )
    elif isinstance(el, hv.Curve):
        x, y = el.dimension_values(0), el.dimension_values(1)
        if not len(x):  # an empty curve (nothing learned yet): no legend entry
            return
        dash = st.get("line_dash", "solid")
        ax.plot(
            x,
            y,
            color=_colour(st, default_colour),
            linestyle=_DASHES.get(dash, "-") if isinstance(dash, str) else "-",
            # a slide: lines as many points wide as the dashboard's are pixels
            linewidth=float(st.get("line_width", 2.0)),
            label=label,
        )
    elif isinstance(el, hv.Points):
        ax.scatter(
            el.dimension_values(0),
            el.dimension_values(1),
            s=(float(st.get("size", 8)) * _PX) ** 2,
            color=_colour(st, "#000000"),
            zorder=3,
            label=label,
        )


def _axes(ax, overlay, font_px: float, subtitle: bool) -> None:
    """Draw ``overlay`` into ``ax``: elements, axis labels, grid, legend outside
    the data (right of the axes), log y axis if the overlay has one; with
    ``subtitle`` the overlay's own title over the axes."""
    items = _elements(overlay)
    for k, (label, el) in enumerate(items):
        _draw(ax, el, label, _CYCLE[k % len(_CYCLE)])
    first = next((el for _label, el in items), None)
    if first is not None:
        ax.set_xlabel(first.kdims[0].pprint_label, fontsize=font_px * _PX)
        vd = first.kdims[1] if len(first.kdims) > 1 else first.vdims[0]
        ax.set_ylabel(vd.pprint_label, fontsize=font_px * _PX)
    opts = _plot_opts(overlay)
    if opts.get("logy") and any(
        len(line.get_xdata()) for line in ax.get_lines()
    ):  # values <= 0 are gaps (NaN), as in the dashboard
        ax.set_yscale("log")
    if subtitle and isinstance(opts.get("title"), str):
        ax.set_title(opts["title"], fontsize=0.9 * font_px * _PX)
    ax.tick_params(labelsize=0.85 * font_px * _PX)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # outside the axes: the legend never covers a curve
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            fontsize=0.8 * font_px * _PX,
            framealpha=0.85,
        )


def overlay_png(
    overlay: hv.Overlay | hv.Element,
    title: str,
    width: int = PNG_SIZE[0],
    height: int = PNG_SIZE[1],
    font_px: float = 22.0,
) -> bytes:
    """The overlay as PNG bytes, ``width`` x ``height`` pixels.

    Parameters
    ----------
    overlay : hv.Overlay or hv.Element
        Curves (colour, dash, width from their Bokeh options), areas (bands) and
        points; other elements are left out.
    title : str
        Title over the plot (e.g. the observable and the model's parameters);
        wrapped to the width.
    width, height : int
        Pixels, each in [200, 8000].
    font_px : float
        Size of the axis labels and the title in pixels (ticks and legend a little
        smaller).

    Raises
    ------
    ValueError
        A size outside [200, 8000].
    """
    return figures_png([overlay], title, width, height, font_px, subtitles=False)


def figures_png(
    overlays,
    title: str,
    width: int = PNG_SIZE[0],
    height: int = PNG_SIZE[1],
    font_px: float = 22.0,
    subtitles: bool = True,
) -> bytes:
    """Several overlays stacked (top to bottom) in one PNG, ``width`` x ``height``
    pixels, under one ``title``.

    Parameters
    ----------
    overlays : sequence of hv.Overlay, hv.NdOverlay or hv.Element
        As for :func:`overlay_png`; series without a colour of their own take
        Bokeh's Category10 colours in order; an overlay with the plot option
        ``logy`` gets a logarithmic y axis.
    title : str
        Over the figure (wrapped to the width).
    width, height : int
        Pixels, each in [200, 8000].
    font_px : float
        Size of the axis labels and the title in pixels.
    subtitles : bool
        Each overlay's own ``title`` option over its axes.

    Raises
    ------
    ValueError
        A size outside [200, 8000] or no overlay.
    """
    for name, v in (("width", width), ("height", height)):
        if not 200 <= int(v) <= 8000:
            raise ValueError(f"PNG {name} = {v}: allowed [200, 8000] pixels")
    overlays = list(overlays)
    if not overlays:
        raise ValueError("PNG: no figure to draw")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(
        figsize=(int(width) / _DPI, int(height) / _DPI),
        dpi=_DPI,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(overlays), 1, squeeze=False)[:, 0]
    for ax, overlay in zip(axes, overlays, strict=True):
        _axes(ax, overlay, font_px, subtitles)
    fig.suptitle(title, fontsize=font_px * _PX, wrap=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()
