"""Messages in the widgets' words: labels for parameter names, plain text, and
settings widgets that report a rejected value instead of raising.

The configs (:mod:`dbdviz.config`) word their errors for the API and the CLI
(``init_x + init_y = 1800 exceeds the number of sites size**2``); the dashboard shows
the same facts with the labels its widgets carry (``Initial X + Initial Y = 1800
exceeds the number of sites Lattice side L squared``), as plain text (``4**9`` must
not turn bold in a Markdown pane).
"""

from __future__ import annotations

import re
from typing import Any

import panel as pn
import param

from ..config import format_range

__all__ = ["in_labels", "plain", "CheckedParam", "free_input"]

_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|~])")


def plain(text: str) -> str:
    """``text`` escaped for a Markdown pane: it renders exactly as written."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def in_labels(text: str, *configs: param.Parameterized) -> str:
    """``text`` with the parameter names of ``configs`` replaced by their labels.

    Names with an underscore (``init_x``) are replaced wherever they stand as a
    word; plain-word names (``size``, ``steps``) only where they are code (followed
    by ``=``, ``**``, ``+``, ``>=``, ``<=`` or ``is``), so prose such as "lattice size"
    stays as it is. ``**2`` becomes " squared".
    """
    text = str(text)
    for cfg in configs:
        names = [n for n in cfg.param if n != "name"]
        for n in sorted(names, key=len, reverse=True):
            label = cfg.param[n].label
            if not label or label == n:
                continue
            # labels containing a backslash or group reference are not expected
            repl = label.replace("\\", r"\\")
            if "_" in n:
                pattern = rf"(?<![\w.'\-]){re.escape(n)}(?!\w)"
            else:
                pattern = (
                    rf"(?<![\w.'\-]){re.escape(n)}"
                    rf"(?=\*\*|\s*(?:=|>=|<=|\+|is\b))"
                )
            text = re.sub(pattern, repl, text)
    return text.replace("**2", " squared")


def free_input(cls: type, **extra: Any) -> dict[str, Any]:
    """``pn.Param`` widget spec for a number box without browser-side limits.

    With ``start``/``end`` the browser silently clamps a typed value to them (and
    ``pn.Param`` would give the soft bounds, e.g. Steps stopping at 2000 while the
    model allows 10**6); without them every value reaches the parameter, which
    accepts it or has it reported (:class:`CheckedParam`).
    """
    return {"type": cls, "start": None, "end": None, **extra}


class CheckedParam(pn.Param):
    """``pn.Param`` whose widgets report a value the parameter rejects.

    ``pn.Param`` sets the parameter from the widget and lets the parameter's
    ``ValueError`` escape into the server log, while the box may keep showing the
    rejected value. Here the rejection is caught: the widget goes back to the value
    in use and :attr:`rejected` says, with the widget's label, what was rejected and
    what is allowed (``"Steps: -5 rejected, allowed [1, 1000000]; 500 is kept."``).
    A valid value clears it.
    """

    rejected = param.String(
        default="", doc="The last rejected value, in the widget's words; or empty."
    )

    def widget(self, p_name: str):
        w = super().widget(p_name)
        for what in ("value", "value_throttled", "value_input"):
            for watcher in list(w.param.watchers.get(what, {}).get("value", [])):
                if getattr(watcher.fn, "__name__", "") == "link_widget":
                    w.param.unwatch(watcher)
                    w.param.watch(self._checked(watcher.fn, p_name), what)
        return w

    def _checked(self, link, p_name: str):
        def checked_link(change):
            try:
                link(change)
            except ValueError:
                p = self.object.param[p_name]
                kept = getattr(self.object, p_name)
                self.rejected = (
                    f"{p.label or p_name}: {change.new} rejected, allowed "
                    f"{format_range(p)}; {kept} is kept."
                )
            else:
                self.rejected = ""

        return checked_link
