"""Panel widget helpers shared by the components: version shims and widget specs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import panel as pn

__all__ = [
    "kw",
    "widget",
    "int_input",
    "batched_updates",
    "SEED_WIDGET",
    "SeedInput",
]


class SeedInput(pn.widgets.LiteralInput):
    """A seed typed as text: exact over the whole range up to 2**63 - 1 (JavaScript
    numbers, hence ``IntInput``, are exact only below 2**53); empty: None (fresh
    entropy)."""

    def __init__(self, **params: Any) -> None:
        params.setdefault("type", (int, type(None)))
        super().__init__(**params)


#: ``pn.Param`` widget spec of every seed.
SEED_WIDGET = {"type": SeedInput}


def kw(cls, **kwargs: Any) -> dict[str, Any]:
    """Constructor keywords for ``cls`` across Panel 1.x versions.

    Panel 1.9 renamed ``name`` -> ``label``, ``button_type`` -> ``color`` and
    ``button_style`` -> ``variant`` (the old names warn); older versions only know
    the old names.
    """
    names = cls.param
    for new, old in (
        ("label", "name"),
        ("color", "button_type"),
        ("variant", "button_style"),
    ):
        if new in kwargs and new not in names:
            kwargs[old] = kwargs.pop(new)
    return kwargs


def widget(cls, **kwargs: Any):
    """``cls(**kwargs)`` with the keywords of :func:`kw`."""
    return cls(**kw(cls, **kwargs))


def int_input(config, name: str) -> dict[str, Any]:
    """``pn.Param`` widget spec: an ``IntInput`` over the parameter's hard bounds
    (``pn.Param`` would take the soft ones)."""
    lo, hi = config.param[name].bounds
    return {"type": pn.widgets.IntInput, "start": lo, "end": hi}


@contextlib.contextmanager
def batched_updates() -> Iterator[None]:
    """Send the changes made inside as one message per notebook output.

    A notebook output's document holds every model of the output (all tabs of the
    explorer: ~1100); Panel recomputes that set after each replaced model and
    sends each change at once. A drain of a job's records replaces several
    figures: second-long drains that kept the kernel from handling clicks. Here
    the documents of the notebook outputs are frozen (one recomputation at the
    end) and the changes held (Panel's ``block_comm``), then pushed once. In a
    served session (Bokeh sends a callback's changes together) and in plain
    Python (no outputs) this changes nothing.
    """
    doc = pn.state.curdoc
    views = list(pn.state._views.values())
    if (doc is not None and doc.session_context is not None) or not views:
        yield
        return
    from panel.io.notebook import block_comm, push

    docs = {id(v[2]): v[2] for v in views if v[3] is not None}
    with contextlib.ExitStack() as stack:
        stack.enter_context(block_comm())
        for d in docs.values():
            stack.enter_context(d.models.freeze())
        yield
    for _viewable, root, d, comm in views:
        if comm is not None and "embedded" not in root.tags:
            push(d, comm)
