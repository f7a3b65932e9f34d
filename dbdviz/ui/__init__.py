"""Dashboard and notebook UI (needs the ``ui`` extra: panel, holoviews, bokeh).

Only this subpackage imports Panel/HoloViews/Bokeh; the core never does.

- :mod:`dbdviz.ui.plots`: pure HoloViews element builders (arrays in, elements out).
- :mod:`dbdviz.ui.explorer`: ``pn.viewable.Viewer`` components sharing a ``Session``
  (``ModelPanel``, ``MomentsView``, ``LatticeView``, ``TrainingPanel``,
  ``HierarchyView``, ``ExportPanel``); they display in Jupyter as they are.
- :mod:`dbdviz.ui.jobs`: background-thread jobs drained by a per-session periodic
  callback.
- :mod:`dbdviz.ui.live`: Bokeh line plots subscribed to ``Pipe``/``Buffer`` streams
  for the 5-10 Hz training plots.
- :mod:`dbdviz.ui.app`: ``create_app()``, the served template (``apps/dashboard.py``).
"""
