"""Layering rules of STYLE.md: the core never imports the UI stack."""

import subprocess
import sys

CORE = [
    "dbdviz",
    "dbdviz.config",
    "dbdviz.io",
    "dbdviz.moments",
    "dbdviz.cli",
    "dbdviz.simulate",
    "dbdviz.closures",
    "dbdviz.compare",
    "dbdviz.dbm",
    "dbdviz.dbd",
]


def test_core_does_not_import_ui_stack():
    code = (
        "import importlib, sys\n"
        f"for m in {CORE!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if not e.name.startswith('dbdviz'): raise\n"
        "bad = [m for m in ('panel', 'holoviews', 'bokeh') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"core imported {out.stdout.strip()}"


def test_one_cancelled():
    from dbdviz.dbd.evaluate import Cancelled as evaluate_cancelled
    from dbdviz.errors import Cancelled
    from dbdviz.simulate import Cancelled as simulate_cancelled

    assert simulate_cancelled is Cancelled
    assert evaluate_cancelled is Cancelled
