"""The dbdviz dashboard: ``panel serve apps/dashboard.py`` serves it at /dashboard.

Thin on purpose: every component lives in ``dbdviz.ui``; each browser session runs
this script and gets its own state. Compile the numba kernels once, before the
first session, with ``panel serve apps/dashboard.py --setup apps/warmup.py``.
"""

from dbdviz.ui.app import create_app

create_app().servable()
