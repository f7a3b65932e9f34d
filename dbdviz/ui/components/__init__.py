"""The dashboard's components: one ``pn.viewable.Viewer`` per file, sharing a
:class:`~dbdviz.ui.session.Session`.

The same objects display in Jupyter (``ModelPanel()`` in a cell) and in the served
app (:func:`dbdviz.ui.app.create_app`). Every component takes the session that holds
the per-session state and builds its own widgets in ``__init__``; nothing lives in
module globals, so two browser tabs never share state. Settings a test or benchmark
tunes (the live-curve period, batch sizes, ...) are the components' own parameters.

Widgets for model and training settings come from the ``param`` declarations in
:mod:`dbdviz.config` through ``pn.Param`` (one definition per parameter, with its
bounds, so a widget cannot leave the allowed range). Combinations that are invalid
only together (``init_x + init_y > size**2``) show an alert, never a traceback.

Long work runs in background threads through :class:`dbdviz.ui.jobs.Job` with the
workers of :mod:`dbdviz.ui.workers`: the thread only fills a queue; the session's
periodic callback drains it into widgets and ``hv.streams.Pipe``/``Buffer`` objects
(STYLE.md, "Live plots").

- :mod:`.model_panel`: :class:`ModelPanel` (settings, Simulate, Stop)
- :mod:`.moments_view`: :class:`MomentsView` (curves, band, NRMSE)
- :mod:`.lattice_view`: :class:`LatticeView` (snapshots, learned samples)
- :mod:`.training_panel`: :class:`TrainingPanel` (Train, Stop, Evaluate, live plots)
- :mod:`.hierarchy_view`: :class:`HierarchyView` (equations, closure channels)
- :mod:`.export_panel`: :class:`ExportPanel` (downloads)
- :mod:`.regime_map`: :class:`RegimeMap` (a sweep over two rates on Dask, cell by
  cell)
- :mod:`.predict_panel`: :class:`PredictPanel` (Predict, re-predict on changes)
- :mod:`.phase_view`: :class:`PhaseView` (Y against X)
- :mod:`.lesson`: :class:`LessonPanel` (the lesson and the glossary; text only)
"""

from .export_panel import ExportPanel
from .hierarchy_view import HierarchyView
from .lattice_view import LatticeView
from .lesson import LessonPanel
from .model_panel import ModelPanel
from .moments_view import MomentsView
from .phase_view import PhaseView
from .predict_panel import PredictPanel
from .regime_map import RegimeMap
from .training_panel import TrainingPanel

__all__ = [
    "ModelPanel",
    "MomentsView",
    "LatticeView",
    "TrainingPanel",
    "HierarchyView",
    "ExportPanel",
    "RegimeMap",
    "PredictPanel",
    "PhaseView",
    "LessonPanel",
]
