"""The export panel: moment tables (CSV), the moments figure (HTML), the ensemble
and the trained model (.npz)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
from panel.viewable import Viewer

from ...moments import MomentTable
from .._compat import widget
from ..session import Session, session_or_new
from .moments_view import MomentsView

__all__ = ["ExportPanel"]


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


class ExportPanel(Viewer):
    """Downloads: moment tables (CSV), the moments figure (HTML), the ensemble and
    the trained model (.npz, loadable with ``Ensemble.load`` / ``DBDModel.load``).

    PNG is not offered: bokeh's PNG export needs selenium and a web driver, and the
    matplotlib backend is not a dependency; the HTML figure is self-contained.
    """

    def __init__(
        self,
        session: Session | None = None,
        moments: MomentsView | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.moments = moments if moments is not None else MomentsView(self.session)
        self.table = widget(
            pn.widgets.Select, label="Table", options=["simulation"], width=220
        )
        self.csv_download = _download(
            self.table_csv, "moments_simulation.csv", "Download moment table (CSV)"
        )
        self.html_download = _download(
            self.figure_html, "moments.html", "Download figure (HTML)"
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
            self.npz_download,
            self.model_download,
            pn.pane.Markdown(
                "CSV columns follow the dbdviz moment-table layout (`t, n, mean_X, "
                "sd_X, ...`). The figure is a standalone HTML file (interactive "
                "Bokeh). PNG export is not offered: it would need selenium and a "
                "browser driver."
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

    def figure_html(self) -> io.BytesIO:
        """The moments figure as a standalone HTML file.

        Rendered with a throwaway document as Panel's current document: Panel takes
        the stylesheet models of new components from the cache of the *current*
        document (the session's, inside the download callback) and then rewrites
        their URLs for the document being saved (CDN), which would switch the
        session's own stylesheets (``listpanel.css``, ``loading.css``) to the CDN.
        """
        from bokeh.document import Document
        from panel.io.state import set_curdoc

        buf = io.BytesIO()
        with set_curdoc(Document()):
            hv.save(
                self.moments.figure(),
                buf,
                fmt="html",
                backend="bokeh",
                resources="inline",
            )
        buf.seek(0)
        return buf

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
