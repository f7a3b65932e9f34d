"""Pure HoloViews element builders: arrays in, ``hv.Element`` out.

No state, no Panel, no threads: every function takes numpy arrays (and labels) and
returns an element or overlay with declared key and value dimensions, so the same
builders serve the dashboard, notebooks and tests (which inspect ``element.data``).
Colours are fixed here, once, so a curve has the same colour everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh options used below)
import numpy as np

__all__ = [
    "CURVE_COLORS",
    "CURVE_DASHES",
    "LOG_TICKS",
    "plot_style",
    "SPECIES_COLORS",
    "TIME",
    "observable_dim",
    "confidence_band",
    "spread_band",
    "moment_curve",
    "moments_overlay",
    "lattice_rgb",
    "lattice_colors",
    "theta_overlay",
    "errors_overlay",
    "HIDDEN_COLORS",
    "channels_overlay",
    "regime_heatmap",
    "rate_marker",
    "phase_plane",
]

#: Line colours per curve kind (colour-blind friendly Okabe-Ito palette).
CURVE_COLORS: dict[str, str] = {
    "simulation": "#000000",
    "mean-field": "#0072B2",
    "pair": "#009E73",
    "dbd": "#D55E00",
    "cpp-reference": "#CC79A7",
}
#: Dash pattern per curve kind: the curves differ without colour too (projectors,
#: colour-blind readers, black-and-white prints).
CURVE_DASHES: dict[str, str] = {
    "simulation": "solid",
    "mean-field": "dashed",
    "pair": "dotdash",
    "dbd": "solid",
    "cpp-reference": "dotted",
}
_CURVE_WIDTHS: dict[str, float] = {"simulation": 2.5, "dbd": 3.0}
#: Tick values of the logarithmic error axes: 1, 2, 5 per decade. Bokeh's own log
#: ticker falls back to linear steps below two decades (0.1, 0.2, ..., 0.7 crowd at
#: the top of the axis, their labels overlapping); adjacent ticks here are at least
#: a factor 2 (0.3 decades) apart.
LOG_TICKS: tuple[float, ...] = tuple(
    float(f"{m}e{e}") for e in range(-8, 5) for m in (1, 2, 5)
)


def plot_style(presentation: bool = False) -> dict[str, float]:
    """Font and line scales of the plots: ``{"fontscale": f, "line_scale": s}``.

    Normal: ticks and labels at about 14-16 px; presentation (a projector): larger
    type and thicker lines.
    """
    # Bokeh's smallest plot text (legend labels) is about 10 px at fontscale 1
    if presentation:
        return {"fontscale": 1.9, "line_scale": 1.8}
    return {"fontscale": 1.45, "line_scale": 1.0}


#: Site colours of the lattice image: empty, X (prey), Y (predator).
SPECIES_COLORS: dict[str, tuple[int, int, int]] = {
    "empty": (245, 245, 245),
    "X": (0, 158, 115),
    "Y": (213, 94, 0),
}
#: Unit colours of a hidden layer of the DBM: off, channel A (X1, X2 ...), channel B.
HIDDEN_COLORS: dict[str, tuple[int, int, int]] = {
    "off": (245, 245, 245),
    "A": (86, 180, 233),
    "B": (204, 121, 167),
}
_LUTS = {
    "species": np.array(
        [SPECIES_COLORS["empty"], SPECIES_COLORS["X"], SPECIES_COLORS["Y"]],
        dtype=np.uint8,
    ),
    "hidden": np.array(
        [HIDDEN_COLORS["off"], HIDDEN_COLORS["A"], HIDDEN_COLORS["B"]], dtype=np.uint8
    ),
}

TIME = hv.Dimension("t", label="time t")

_OBS_LABELS = {
    "X": "prey count X",
    "Y": "predator count Y",
    "nnXX": "nearest-neighbour XX pairs",
    "nnXY": "nearest-neighbour XY pairs",
    "nnYY": "nearest-neighbour YY pairs",
    "nnnXX": "diagonal XX pairs",
    "nnnXY": "diagonal XY pairs",
    "nnnYY": "diagonal YY pairs",
    "nnn3XX": "distance-2 XX pairs (reference NNN)",
    "nnn3XY": "distance-2 XY pairs (reference NNN)",
    "nnn3YY": "distance-2 YY pairs (reference NNN)",
}


def observable_dim(obs: str) -> hv.Dimension:
    """Value dimension of one observable (named by the observable, readable label)."""
    return hv.Dimension(obs, label=_OBS_LABELS.get(obs, obs))


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def confidence_band(
    t: np.ndarray,
    mean: np.ndarray,
    se: np.ndarray,
    obs: str,
    z: float = 1.96,
    label: str = "simulation 95% CI",
) -> hv.Area:
    """Band ``mean +- z * se`` (a 95 % confidence band of the mean for z = 1.96).

    Parameters
    ----------
    t, mean, se : ndarray of float64, shape (n_times,)
    obs : str
        Observable name (the value dimension).

    Returns
    -------
    hv.Area
        kdims ``[t]``, vdims ``[obs, obs_upper]`` (lower and upper edge).
    """
    t, mean, se = _f64(t), _f64(mean), _f64(se)
    se = np.where(np.isfinite(se), se, 0.0)
    return hv.Area(
        (t, mean - z * se, mean + z * se),
        kdims=[TIME],
        vdims=[observable_dim(obs), f"{obs}_upper"],
        label=label,
    ).opts(color="#888888", alpha=0.35, line_alpha=0)


def spread_band(
    t: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    obs: str,
    label: str = "replicates 5-95%",
) -> hv.Area:
    """Band between two quantiles of the replicates (the spread of single runs).

    Parameters
    ----------
    t, lower, upper : ndarray of float64, shape (n_times,)
    """
    return hv.Area(
        (_f64(t), _f64(lower), _f64(upper)),
        kdims=[TIME],
        vdims=[observable_dim(obs), f"{obs}_upper"],
        label=label,
    ).opts(color="#bbbbbb", alpha=0.25, line_alpha=0)


def moment_curve(
    t: np.ndarray,
    mean: np.ndarray,
    obs: str,
    label: str,
    kind: str = "simulation",
    line_scale: float = 1.0,
) -> hv.Curve:
    """One moment trajectory.

    Parameters
    ----------
    t, mean : ndarray of float64, shape (n_times,)
    obs : str
        Observable name (value dimension).
    label : str
        Legend label.
    kind : str
        Key of :data:`CURVE_COLORS` (``"simulation"``, ``"mean-field"``, ``"pair"``,
        ``"dbd"``, ``"cpp-reference"``); fixes the colour (:data:`CURVE_COLORS`) and
        the dash (:data:`CURVE_DASHES`).
    line_scale : float
        Line width multiplier (:func:`plot_style`).
    """
    dash = CURVE_DASHES.get(kind, "solid")
    width = _CURVE_WIDTHS.get(kind, 2.0) * line_scale
    return hv.Curve(
        (_f64(t), _f64(mean)), kdims=[TIME], vdims=[observable_dim(obs)], label=label
    ).opts(color=CURVE_COLORS.get(kind, "#444444"), line_dash=dash, line_width=width)


def moments_overlay(
    obs: str,
    curves: Sequence[tuple[str, str, np.ndarray, np.ndarray]] = (),
    bands: Sequence[hv.Area] = (),
    title: str = "",
    dynamic: Sequence[hv.DynamicMap] = (),
    presentation: bool = False,
) -> hv.Overlay | hv.DynamicMap:
    """Bands underneath, then curves, as one overlay with a legend.

    Parameters
    ----------
    obs : str
        Observable shown.
    curves : sequence of (kind, label, t, mean)
        ``t``, ``mean`` float64 arrays of equal length.
    bands : sequence of hv.Area
        From :func:`confidence_band` / :func:`spread_band`.
    dynamic : sequence of hv.DynamicMap
        Curves streamed from a ``Pipe`` (the learned curve while it trains), drawn on
        top; the result is then a ``DynamicMap`` of overlays.
    presentation : bool
        Larger type and thicker lines (:func:`plot_style`).
    """
    st = plot_style(presentation)
    items: list[hv.Element] = list(bands)
    items += [
        moment_curve(t, m, obs, label, kind, st["line_scale"])
        for kind, label, t, m in curves
    ]
    if not items and not dynamic:  # a well-formed plot before the first simulation
        items = [hv.Curve(([], []), kdims=[TIME], vdims=[observable_dim(obs)])]
    out = hv.Overlay(items)
    for dm in dynamic:
        out = out * dm
    return out.opts(
        title=title or _OBS_LABELS.get(obs, obs),
        # outside the axes: inside, the legend covered the curves' start at
        # 1280 x 720
        legend_position="right",
        legend_opts={"location": "top_left"},  # level with the title
        responsive=True,
        min_height=380,
        show_grid=True,
        fontscale=st["fontscale"],
    )


def lattice_colors(frame: np.ndarray, palette: str = "species") -> np.ndarray:
    """RGB image of a lattice (fixed colours).

    Parameters
    ----------
    frame : ndarray of uint8 or int8, shape (L, L)
        Codes 0 = empty/off, 1 = X / channel A, 2 = Y / channel B.
    palette : {"species", "hidden"}
        :data:`SPECIES_COLORS` (empty light grey, X green, Y orange) for the visible
        layer, :data:`HIDDEN_COLORS` (off, A sky blue, B purple) for hidden layers.

    Returns
    -------
    ndarray of uint8, shape (L, L, 3)
    """
    if palette not in _LUTS:
        raise ValueError(f"palette = {palette!r}: allowed {', '.join(_LUTS)}")
    f = np.asarray(frame)
    if f.ndim != 2:
        raise ValueError(f"frame must have shape (L, L), got {f.shape}")
    return _LUTS[palette][np.clip(f, 0, 2).astype(np.intp)]


def lattice_rgb(
    frame: np.ndarray, title: str = "", palette: str = "species", size: int = 380
) -> hv.RGB:
    """A lattice configuration as an ``hv.RGB`` image, one pixel per site.

    Parameters
    ----------
    frame : ndarray of uint8 or int8, shape (L, L)
        Row r is drawn at the top for r = 0 (matrix orientation).
    title : str
    palette : {"species", "hidden"}
        See :func:`lattice_colors`.
    size : int
        Width and height in screen pixels.
    """
    rgb = lattice_colors(frame, palette)
    L = rgb.shape[0]
    # hv images put row 0 at the top when bounds run bottom-up, like a matrix.
    return hv.RGB(rgb, bounds=(0, 0, L, L), kdims=["column", "row"], label=title).opts(
        xaxis=None,
        yaxis=None,
        width=size,
        height=size,
        title=title,
        toolbar=None,
        default_tools=[],
        # a new lattice size (another preset) resizes the axes to the new image
        framewise=True,
    )


def theta_overlay(
    t: np.ndarray,
    theta: np.ndarray,
    names: Sequence[str],
    title: str = "theta(t)",
) -> hv.NdOverlay:
    """Parameter trajectories theta_k(t), one curve per parameter.

    Parameters
    ----------
    t : ndarray of float64, shape (n_times,)
    theta : ndarray of float64, shape (n_times, P)
    names : sequence of str, length P
    """
    theta = np.atleast_2d(_f64(theta))
    t = _f64(t)
    # framewise: the horizon grows while training, the axes follow it
    curves = {
        str(n): hv.Curve((t, theta[:, k]), kdims=[TIME], vdims=["theta"]).opts(
            framewise=True
        )
        for k, n in enumerate(names)
    }
    return hv.NdOverlay(curves, kdims=["parameter"]).opts(
        framewise=True,
        title=title,
        responsive=True,
        min_height=300,
        legend_position="right",
        show_grid=True,
    )


def errors_overlay(
    data: Mapping[str, np.ndarray], title: str = "moment errors"
) -> hv.Overlay:
    """Moment errors per optimisation step, one curve per column but ``step``.

    Parameters
    ----------
    data : mapping of str -> ndarray of float64, shape (n_steps,)
        Must hold ``step``; every other key is one error series (relative errors,
        drawn on a log axis; values <= 0 are left out).
    """
    step = _f64(data["step"])
    keys = [k for k in data if k != "step"]
    curves = [
        # a log axis cannot show 0: such points are left out (NaN)
        hv.Curve(
            (step, np.where(_f64(data[k]) > 0, _f64(data[k]), np.nan)),
            kdims=["step"],
            vdims=["error"],
            label=k,
        )
        for k in keys
    ] or [hv.Curve(([], []), kdims=["step"], vdims=["error"])]
    return hv.Overlay(curves).opts(
        title=title,
        responsive=True,
        min_height=300,
        show_grid=True,
        legend_position="right",
        logy=True,
        yticks=list(LOG_TICKS),
        framewise=True,
    )


def channels_overlay(
    t: np.ndarray,
    channels: np.ndarray,
    names: Sequence[str],
    total: np.ndarray,
    obs: str,
    true_t: np.ndarray | None = None,
    true: np.ndarray | None = None,
    true_smooth: np.ndarray | None = None,
    title: str = "",
) -> hv.Overlay:
    """Closure channels of a learned DBD: which parameter carries which part of d<Q>/dt.

    Parameters
    ----------
    t : ndarray of float64, shape (n,)
        Times of the channel rows.
    channels : ndarray of float64, shape (n, P)
        ``Cov(Q, M_k) dtheta_k/dt`` per parameter k (ALGORITHM.md 6.3).
    names : sequence of str, length P
    total : ndarray of float64, shape (n,)
        Their sum, the model's d<Q>/dt.
    obs : str
        Observable Q.
    true_t, true : ndarray of float64, shape (m,), optional
        Finite-difference derivative of the simulated mean (thin grey).
    true_smooth : ndarray of float64, shape (m,), optional
        The same, low-pass filtered like the channels (black).

    Returns
    -------
    hv.Overlay
        kdims ``[t]``, vdims ``[f"d{obs}/dt"]``; one curve per parameter, the sum
        (thick, DBD colour), the simulation.
    """
    vd = hv.Dimension(f"d{obs}/dt", label=f"d<{obs}>/dt")
    t = _f64(t)
    ch = np.atleast_2d(_f64(channels))
    items: list[hv.Element] = []
    if true is not None and true_t is not None:
        items.append(
            hv.Curve(
                (_f64(true_t), _f64(true)),
                kdims=[TIME],
                vdims=[vd],
                label="simulation (finite difference)",
            ).opts(color="#aaaaaa", line_width=1)
        )
    if true_smooth is not None and true_t is not None:
        items.append(
            hv.Curve(
                (_f64(true_t), _f64(true_smooth)),
                kdims=[TIME],
                vdims=[vd],
                label="simulation (low-pass)",
            ).opts(color=CURVE_COLORS["simulation"], line_width=2)
        )
    for k, name in enumerate(names):
        items.append(
            hv.Curve((t, ch[:, k]), kdims=[TIME], vdims=[vd], label=str(name)).opts(
                line_width=1.5, line_dash="dashed"
            )
        )
    items.append(
        hv.Curve((t, _f64(total)), kdims=[TIME], vdims=[vd], label="DBD sum").opts(
            color=CURVE_COLORS["dbd"], line_width=3
        )
    )
    return hv.Overlay(items).opts(
        title=title or f"closure channels of d<{obs}>/dt",
        responsive=True,
        min_height=380,
        show_grid=True,
        legend_position="right",
    )


def _edges(centers: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (midpoints; half a step beyond the ends)."""
    c = _f64(centers)
    if c.size == 1:
        half = 0.1 * abs(c[0]) or 0.5
        return np.array([c[0] - half, c[0] + half])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def regime_heatmap(
    xs: np.ndarray,
    ys: np.ndarray,
    values: np.ndarray,
    xname: str,
    yname: str,
    label: str,
    clim: tuple[float, float] | None = None,
) -> hv.QuadMesh:
    """A map over two parameters: one cell per grid point, NaN cells left blank.

    Parameters
    ----------
    xs, ys : ndarray of float64, shape (nx,), (ny,)
        Cell centres (sorted).
    values : ndarray of float64, shape (ny, nx)
    xname, yname, label : str
        Key dimensions and the value dimension.
    clim : (float, float), optional
        Colour range (default: the finite values').
    """
    z = _f64(values)
    finite = z[np.isfinite(z)]
    empty = finite.size == 0
    if empty:  # the grid alone (an all-NaN mesh has no value range to draw)
        z = np.zeros_like(z)
    qm = hv.QuadMesh((_edges(xs), _edges(ys), z), kdims=[xname, yname], vdims=[label])
    if empty:
        clim = clim or (0.0, 1.0)
    elif clim is None:
        clim = (
            (float(finite.min()), float(finite.max()))
            if finite.size and finite.min() < finite.max()
            else (np.nan, np.nan)
        )
    return qm.opts(
        cmap="viridis",
        colorbar=True,
        clim=clim,
        tools=["tap"] if empty else ["hover", "tap"],
        responsive=True,
        min_height=420,
        line_color="#dddddd" if empty else "white",
        line_width=0.5,
        fill_alpha=0.0 if empty else 1.0,
        title=label,
        framewise=True,
    )


def rate_marker(x: float, y: float, xname: str, yname: str) -> hv.Points:
    """The current model's rates on a :func:`regime_heatmap`."""
    return hv.Points(([x], [y]), kdims=[xname, yname]).opts(
        marker="x", size=16, color="#D55E00", line_width=3, tools=[]
    )


def phase_plane(
    curves: Sequence[tuple[str, str, np.ndarray, np.ndarray]],
    title: str = "phase plane: predators Y against prey X",
    presentation: bool = False,
) -> hv.Overlay:
    """Trajectories in the (X, Y) plane, one per curve kind, each with a start dot.

    Parameters
    ----------
    curves : sequence of (kind, label, x, y)
        ``kind`` as in :func:`moment_curve` (colour and dash); ``x``, ``y`` float64
        arrays of equal length (the means of X and Y over time).
    presentation : bool
        Larger type and thicker lines (:func:`plot_style`).

    Returns
    -------
    hv.Overlay
        Curves with kdims ``[X]``, vdims ``[Y]``.
    """
    st = plot_style(presentation)
    xd, yd = observable_dim("X"), observable_dim("Y")
    items: list[hv.Element] = []
    for kind, label, x, y in curves:
        x, y = _f64(x), _f64(y)
        items.append(
            hv.Curve((x, y), kdims=[xd], vdims=[yd], label=label).opts(
                color=CURVE_COLORS.get(kind, "#444444"),
                line_dash=CURVE_DASHES.get(kind, "solid"),
                line_width=_CURVE_WIDTHS.get(kind, 2.0) * st["line_scale"],
            )
        )
    starts = [(float(c[2][0]), float(c[3][0])) for c in curves if len(c[2])]
    if starts:
        items.append(
            hv.Points(starts[:1], kdims=[xd, yd], label="start").opts(
                color="#000000", size=8 * st["line_scale"]
            )
        )
    if not items:
        items = [hv.Curve(([], []), kdims=[xd], vdims=[yd])]
    return hv.Overlay(items).opts(
        title=title,
        responsive=True,
        min_height=380,
        show_grid=True,
        legend_position="right",  # outside: a loop may pass any corner
        legend_opts={"location": "top_left"},
        fontscale=st["fontscale"],
    )
