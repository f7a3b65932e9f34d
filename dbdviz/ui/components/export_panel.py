"""The export panel: moment tables (CSV), the moments figure (HTML), the main
figures (PNG: moments, phase plane, training, hierarchy), the ensemble and the
trained model (.npz)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
from panel.viewable import Viewer

from ...moments import MomentTable
from .. import plots
from .._compat import widget
from ..session import Session, session_or_new
from .moments_view import MomentsView

__all__ = ["ExportPanel", "PNG_FIGURES"]

#: Figures of the PNG download: key -> (menu label, file name, title prefix).
PNG_FIGURES: dict[str, tuple[str, str, str]] = {
    "moments": ("Moments", "moments.png", ""),
    "phase": ("Phase plane", "phase_plane.png", "phase plane, Y against X"),
    "training": ("Training: theta(t), errors", "training.png", "training"),
    "hierarchy": ("Hierarchy: channels", "hierarchy.png", "closure channels"),
}


def _download(callback, filename: str, label: str, **kwargs: Any):
    """A primary-coloured FileDownload button of the Export tab."""
    return widget(
        pn.widgets.FileDownload,
        callback=callback,
        filename=filename,
        label=label,
        color="primary",
        width=300,
        **kwargs,
    )


def parameters_text(config) -> str:
    """The model's parameters in one line (figure titles), or a note without data."""
    if config is None:
        return "no simulation yet"
    c = config
    return (
        f"L = {c.size}, birth {c.birth:g}, death {c.death:g}, predation "
        f"{c.predation:g}, X0 = {c.init_x}, Y0 = {c.init_y}, {c.replicates} "
        f"replicates, seed {c.seed}"
    )


def standalone_html(model, title: str) -> str:
    """An HTML page holding BokehJS inline and ``model`` (a Bokeh figure): it opens
    with no network access.

    Parameters
    ----------
    model : bokeh.model.Model
        Not attached to any other document.
    title : str
        The page's title (HTML-escaped here).
    """
    import html
    import json

    from bokeh.embed import json_item
    from bokeh.util.paths import bokehjs_path

    js = (Path(bokehjs_path()) / "js" / "bokeh.min.js").read_text(encoding="utf-8")
    item = json.dumps(json_item(model, "figure")).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body { margin: 0; padding: 12px; font-family: sans-serif; }"
        " #figure { width: 100%; height: 90vh; }</style>\n"
        f'<script>{js}</script>\n</head>\n<body>\n<div id="figure"></div>\n'
        f"<script>Bokeh.embed.embed_item({item});</script>\n</body>\n</html>\n"
    )


class ExportPanel(Viewer):
    """Downloads: moment tables (CSV), the moments figure (self-contained HTML), a
    PNG of a main figure drawn on the server by matplotlib (:mod:`dbdviz.ui.png`;
    the moments, and the phase plane, training and hierarchy views it is given),
    the ensemble and the trained model (.npz, loadable with ``Ensemble.load`` /
    ``DBDModel.load``). The figures carry the model's parameters in their title.

    Parameters
    ----------
    session : Session, optional
    moments : MomentsView, optional
        A new one bound to ``session`` if not given.
    phase, training, hierarchy : component, optional
        The dashboard's :class:`PhaseView`, :class:`TrainingPanel` and
        :class:`HierarchyView`: their figures join the PNG menu.
    """

    def __init__(
        self,
        session: Session | None = None,
        moments: MomentsView | None = None,
        phase=None,
        training=None,
        hierarchy=None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.moments = moments if moments is not None else MomentsView(self.session)
        self.phase, self.training, self.hierarchy = phase, training, hierarchy
        shown = {"phase": phase, "training": training, "hierarchy": hierarchy}
        self.png_figure = widget(
            pn.widgets.Select,
            label="PNG figure",
            options={
                label: key
                for key, (label, _f, _t) in PNG_FIGURES.items()
                if key == "moments" or shown[key] is not None
            },
            value="moments",
            width=300,
        )
        self.table = widget(
            pn.widgets.Select, label="Table", options=["simulation"], width=220
        )
        self.csv_download = _download(
            self.table_csv, "moments_simulation.csv", "Download moment table (CSV)"
        )
        self.html_download = _download(
            self.figure_html, "moments.html", "Download figure (HTML)"
        )
        self.png_download = _download(
            self.figure_png, "moments.png", "Download figure (PNG, 1600 x 900)"
        )
        self.npz_download = _download(
            self.ensemble_npz, "ensemble.npz", "Download ensemble (.npz)"
        )
        self.model_download = _download(
            self.model_npz,
            "dbd_model.npz",
            "Download trained model (.npz)",
            disabled=True,
        )
        self.table.param.watch(self._on_table, "value")
        self.png_figure.param.watch(self._on_png_figure, "value")
        self.session.param.watch(self._on_model, "model")
        self.session.param.watch(
            self._on_tables,
            ["simulation", "closures", "learned", "reference", "sim_config"],
        )
        self._on_tables()
        self._layout = pn.Column(
            "### Export",
            pn.Row(self.table, self.csv_download),
            self.html_download,
            self.png_figure,
            self.png_download,
            self.npz_download,
            self.model_download,
            pn.pane.Markdown(
                "CSV columns follow the dbdviz moment-table layout (t, n, mean\\_X, "
                "sd\\_X, ...). The figure, with the parameters in its title: one HTML "
                "file that opens without a network (interactive Bokeh). A PNG for "
                "slides of the figure chosen above, as shown in its tab (the "
                "moments: the curves and observable chosen there). For a PNG of "
                "any other plot, press the save icon of its toolbar.",
                sizing_mode="stretch_width",
            ),
        )

    def __panel__(self):
        return self._layout

    def tables(self) -> dict[str, MomentTable]:
        out = {}
        if self.session.simulation is not None:
            out["simulation"] = self.session.simulation
        out.update(self.moments.model_tables())
        return out

    def _on_tables(self, *_events) -> None:
        names = list(self.tables()) or ["simulation"]
        self.table.options = names
        if self.table.value not in names:
            self.table.value = names[0]
        self._on_table()

    def _on_table(self, *_events) -> None:
        self.csv_download.filename = f"moments_{self.table.value}.csv"

    def table_csv(self) -> io.BytesIO:
        t = self.tables().get(self.table.value)
        text = t.to_csv() if t is not None else "t,n\n"
        return io.BytesIO(text.encode("utf-8"))

    def _on_png_figure(self, *_events) -> None:
        self.png_download.filename = PNG_FIGURES[self.png_figure.value][1]

    def figure_title(self, kind: str = "moments") -> str:
        """An exported figure's title: what it shows (the moments: the observable)
        and the model's parameters."""
        if kind == "moments":
            what = plots._OBS_LABELS.get(
                self.moments.observable, self.moments.observable
            )
        else:
            what = PNG_FIGURES[kind][2]
        return f"{what}: {parameters_text(self.session.sim_config)}"

    def figure_html(self) -> io.BytesIO:
        """The moments figure as a self-contained HTML file that works offline.

        Only BokehJS, inline, and the figure's JSON: no Panel, no MathJax, no CSS
        from a CDN (``hv.save`` with inline resources still linked Panel's
        stylesheets and MathJax on CDNs). The title names the parameters.

        Rendered with a throwaway document as Panel's current document: Panel takes
        the stylesheet models of new components from the cache of the *current*
        document (the session's, inside the download callback) and then rewrites
        their URLs for the document being saved (CDN), which would switch the
        session's own stylesheets (``listpanel.css``, ``loading.css``) to the CDN.
        """
        from bokeh.document import Document
        from panel.io.state import set_curdoc

        title = self.figure_title()
        with set_curdoc(Document()):
            fig = self.moments.figure().opts(title=title, fontscale=1.2)
            model = hv.render(fig, backend="bokeh")
            html = standalone_html(model, title)
        return io.BytesIO(html.encode("utf-8"))

    def figure_png(self, kind: str | None = None) -> io.BytesIO:
        """A figure as a PNG (1600 x 900 pixels; :mod:`dbdviz.ui.png`), the
        parameters in its title.

        Parameters
        ----------
        kind : str, optional
            A key of :data:`PNG_FIGURES` among the menu's; default: the menu's
            choice.
        """
        from ..png import figures_png, overlay_png

        kind = kind or self.png_figure.value
        if kind not in self.png_figure.options.values():
            raise ValueError(
                f"PNG figure {kind!r}: allowed {list(self.png_figure.options.values())}"
            )
        title = self.figure_title(kind)
        if kind == "training":
            return io.BytesIO(figures_png(self.training.figures(), title))
        if kind == "moments":
            fig = self.moments.figure()
        elif kind == "phase":
            fig = self.phase.figure()
        else:
            fig = self.hierarchy.figure()
            if fig is None:
                title += " (none yet: train a model, then evaluate it)"
                fig = hv.Curve([], kdims=["t"], vdims=["dQ/dt"])
        return io.BytesIO(overlay_png(fig, title))

    def _on_model(self, event) -> None:
        self.model_download.disabled = event.new is None

    @staticmethod
    def _npz_bytes(obj, name: str) -> io.BytesIO:
        """``obj.save`` (atomic ``.npz`` writer) into memory via a temp file; empty
        bytes when there is nothing to save."""
        if obj is None:
            return io.BytesIO(b"")
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / name
            obj.save(p)
            return io.BytesIO(p.read_bytes())

    def model_npz(self) -> io.BytesIO:
        """The session's model as ``.npz`` bytes (``DBDModel.save``)."""
        return self._npz_bytes(self.session.model, "dbd_model.npz")

    def ensemble_npz(self) -> io.BytesIO:
        """The session's ensemble as ``.npz`` bytes (``Ensemble.save``)."""
        return self._npz_bytes(self.session.ensemble, "ensemble.npz")
