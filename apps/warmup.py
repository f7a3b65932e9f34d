"""``panel serve --setup apps/warmup.py``: compile (or load cached) numba kernels once.

Runs before the first session, so the first click on Simulate or Train does not pay
the compile latency. Backends that do not exist yet are skipped.
"""

import importlib

for module in (
    "dbdviz.simulate",
    "dbdviz.dbm",
    "dbdviz.dbd",  # finite elements and adjoint
    "dbdviz.dbd.train",
    "dbdviz.dbd.evaluate",
):
    try:
        warmup = getattr(importlib.import_module(module), "warmup", None)
    except ImportError:
        continue
    if callable(warmup):
        warmup()

# Answer only this machine's clients and host names from the first request on
# (dbdviz.ui.guard; the app script checks too, for `panel serve` without --setup).
from dbdviz.ui import guard  # noqa: E402

guard.install()
