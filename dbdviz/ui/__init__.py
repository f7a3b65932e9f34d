"""Dashboard and notebook UI (needs the ``ui`` extra: panel, holoviews, bokeh).

Only this subpackage imports Panel/HoloViews/Bokeh; the core never does.

- :mod:`dbdviz.ui.plots`: pure HoloViews element builders (arrays in, elements out).
- :mod:`dbdviz.ui.session`: ``Session``, the per-session state (configs, ensemble,
  moment tables, closures, learned model).
- :mod:`dbdviz.ui.components`: one ``pn.viewable.Viewer`` per file, sharing a
  ``Session`` (``ModelPanel``, ``MomentsView``, ``LatticeView``, ``TrainingPanel``,
  ``HierarchyView``, ``ExportPanel``); they display in Jupyter as they are, after
  :func:`dbdviz.ui.notebook.extension`.
- :mod:`dbdviz.ui.workers`: the background work (simulate, train, evaluate) as
  ``work(cancel, emit)`` functions; no Panel.
- :mod:`dbdviz.ui.jobs`: background-thread jobs drained by a per-session periodic
  callback.
- :mod:`dbdviz.ui.live`: Bokeh line plots subscribed to ``Pipe``/``Buffer`` streams
  for the 5-10 Hz training plots.
- :mod:`dbdviz.ui.app`: ``create_app()``, the served template (``apps/dashboard.py``).
- :mod:`dbdviz.ui.notebook`: ``extension()`` (Panel for an offline notebook, and the
  fixes that make live updates, Stop and stylesheets work there) and ``Explorer``
  (the whole dashboard as one notebook output); ``notebooks/00_explorer.ipynb``.
- :mod:`dbdviz.ui._compat`: Panel version shims and shared widget specs.

The evaluation rules the components follow (how a trained model is sampled, live
and in full) import no UI and live in :mod:`dbdviz.dbd.procedure`.
"""
