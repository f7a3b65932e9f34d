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
