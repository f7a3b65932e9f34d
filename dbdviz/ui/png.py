"""PNG of a dashboard figure, drawn on the server by matplotlib (no browser).

The dashboard's figures are HoloViews overlays styled for Bokeh (:mod:`.plots`). A
PNG through Bokeh needs a browser and its web driver (selenium and chromedriver, or
playwright and a Chromium) on the machine that serves; matplotlib is one wheel on
every platform. :func:`overlay_png` draws the overlay's elements with matplotlib,
reading each element's colour, dash and width from its Bokeh options, so the PNG
keeps the curves' styles (one definition, in :mod:`.plots`).
"""

from __future__ import annotations

import io

import holoviews as hv

__all__ = ["overlay_png", "PNG_SIZE"]

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
_DPI = 100
_PX = 72.0 / _DPI  # points per pixel (matplotlib widths and fonts are in points)


def _style(el) -> dict:
    return hv.Store.lookup_options("bokeh", el, "style").kwargs


def _draw(ax, el) -> None:
    st = _style(el)
    label = el.label or None
    if isinstance(el, hv.Area):
        x = el.dimension_values(0)
        lo, hi = el.dimension_values(1), el.dimension_values(2)
        ax.fill_between(
            x,
            lo,
            hi,
            color=st.get("color", "#888888"),
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
            color=st.get("color", "#444444"),
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
            color=st.get("color", "#000000"),
            zorder=3,
            label=label,
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
    for name, v in (("width", width), ("height", height)):
        if not 200 <= int(v) <= 8000:
            raise ValueError(f"PNG {name} = {v}: allowed [200, 8000] pixels")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    elements = list(overlay.values()) if isinstance(overlay, hv.Overlay) else [overlay]
    fig = Figure(figsize=(int(width) / _DPI, int(height) / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for el in elements:
        _draw(ax, el)
    first = next((e for e in elements if isinstance(e, hv.Element)), None)
    if first is not None:
        ax.set_xlabel(first.kdims[0].pprint_label, fontsize=font_px * _PX)
        vd = first.kdims[1] if len(first.kdims) > 1 else first.vdims[0]
        ax.set_ylabel(vd.pprint_label, fontsize=font_px * _PX)
    ax.tick_params(labelsize=0.85 * font_px * _PX)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=0.8 * font_px * _PX, framealpha=0.85)
    ax.set_title(title, fontsize=font_px * _PX, wrap=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()
