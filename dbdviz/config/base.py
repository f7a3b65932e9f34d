"""The base of every configuration object: uniform range errors, dict/JSON round
trip, cross-parameter checks (:class:`Config`), and :func:`format_range`."""

from __future__ import annotations

import json
import math
from typing import Any

import param

__all__ = ["Config", "format_range"]


def format_range(p: param.Parameter) -> str:
    """Human-readable allowed range of a parameter, e.g. ``[0, 1]`` or ``{a, b}``."""
    if isinstance(p, param.Selector):
        return "{" + ", ".join(str(o) for o in p.objects) + "}"
    if isinstance(p, param.Boolean):
        return "{True, False}"
    bounds = getattr(p, "bounds", None)
    if bounds is None:
        return "any value"
    lo, hi = bounds
    incl = getattr(p, "inclusive_bounds", (True, True))
    left = ("[" if incl[0] else "(") if lo is not None else "("
    right = ("]" if incl[1] else ")") if hi is not None else ")"
    los = "-inf" if lo is None else _num(lo)
    his = "inf" if hi is None else _num(hi)
    return f"{left}{los}, {his}{right}"


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 2**64:
        return str(int(v))
    return f"{v:g}"


class Config(param.Parameterized):
    """Base class: uniform error messages, dict/JSON round trip, cross checks.

    Subclasses add cross-parameter checks in :meth:`_check_combination`.
    """

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.param) - {"name"})
        if unknown:
            raise ValueError(
                f"unknown parameter(s) for {type(self).__name__}: "
                f"{', '.join(unknown)}; "
                f"allowed: {', '.join(self.public_names())}"
            )
        for k, v in params.items():
            if k != "name":
                self._check_one(k, v)
        try:
            super().__init__(**params)
        except ValueError as exc:  # param's own message, re-worded with the range
            raise self._range_error_from(exc, params) from None
        self.validate()

    # -- introspection -------------------------------------------------------------
    @classmethod
    def public_names(cls) -> list[str]:
        """Names of the user-facing parameters, in declaration order."""
        return [n for n in cls.param if n != "name"]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of parameter values (JSON-serialisable)."""
        return {n: getattr(self, n) for n in self.public_names()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Build from a dict, ignoring keys this version does not know."""
        known = set(cls.public_names())
        return cls(**{k: v for k, v in d.items() if k in known})

    def copy(self, **changes: Any) -> Config:
        """A validated copy with some parameters changed."""
        d = self.to_dict()
        d.update(changes)
        return type(self)(**d)

    # -- validation ----------------------------------------------------------------
    def _check_one(self, name: str, value: Any) -> None:
        p = self.param[name]
        label = p.label or name
        rng = format_range(p)
        if isinstance(p, param.Boolean):
            if not isinstance(value, bool):
                raise ValueError(
                    f"{name} = {value!r} is invalid: allowed {{True, False}}"
                )
            return
        if isinstance(p, param.Selector):
            if value is None and p.allow_None:
                return
            if value not in p.objects:
                raise ValueError(
                    f"{name} = {value!r} is invalid: allowed {rng} ({label})"
                )
            return
        if isinstance(p, param.Number):
            if value is None:
                if p.allow_None:
                    return
                raise ValueError(
                    f"{name} must be a number in {format_range(p)}, got None"
                )
            if isinstance(value, bool):  # True is an int to Python, not to users
                raise ValueError(
                    f"{name} = {value!r} is not a number: allowed {rng} ({label})"
                )
            if not isinstance(value, (int, float)):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{name} = {value!r} is not a number: allowed {rng} ({label})"
                    ) from None
            if isinstance(p, param.Integer) and not float(value).is_integer():
                raise ValueError(
                    f"{name} = {value!r} must be an integer in {rng} ({label})"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"{name} = {value} is not finite: allowed {rng} ({label})"
                )
            lo, hi = p.bounds if p.bounds is not None else (None, None)
            incl = p.inclusive_bounds
            bad = (
                lo is not None and (value < lo or (value == lo and not incl[0]))
            ) or (hi is not None and (value > hi or (value == hi and not incl[1])))
            if bad:
                raise ValueError(
                    f"{name} = {value} is out of range: allowed {rng} ({label})"
                )

    def _range_error_from(self, exc: Exception, params: dict[str, Any]) -> ValueError:
        for k in params:
            if f"'{k}'" in str(exc) or f".{k}'" in str(exc):
                return ValueError(
                    f"{k} = {params[k]!r} is invalid: "
                    f"allowed {format_range(self.param[k])}"
                )
        return ValueError(str(exc))

    def validate(self) -> None:
        """Check every parameter and their combination; raise ``ValueError``."""
        for n in self.public_names():
            self._check_one(n, getattr(self, n))
        self._check_combination()

    def _check_combination(self) -> None:  # pragma: no cover - overridden
        pass
