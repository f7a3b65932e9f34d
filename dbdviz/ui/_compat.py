"""Panel widget helpers shared by the components: version shims and widget specs."""

from __future__ import annotations

from typing import Any

import panel as pn

__all__ = ["kw", "widget", "int_input", "SEED_WIDGET", "SeedInput"]


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
