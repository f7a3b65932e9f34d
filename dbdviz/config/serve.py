"""Limits of a served dashboard session (``dbdviz serve --max-...``)."""

from __future__ import annotations

import param

from .base import Config, format_range

__all__ = ["ServeLimits"]


class ServeLimits(Config):
    """Resource limits of one served dashboard session (``dbdviz serve`` options
    ``--max-...``; ``panel serve`` reads ``DBDVIZ_MAX_REPLICATES`` etc.).

    A served page may be opened by anyone who reaches the server; these keep one
    session from taking the machine (the memory check of every simulation applies
    as well). Notebooks have no limits.
    """

    max_replicates = param.Integer(
        10_000,
        bounds=(1, 1_000_000),
        label="Most replicates",
        doc="Most replicates one simulation of a served session may ask for.",
    )
    max_size = param.Integer(
        200,
        bounds=(3, 4096),
        label="Largest lattice",
        doc="Largest lattice side a served session may simulate.",
    )
    max_jobs_session = param.Integer(
        2,
        bounds=(1, 64),
        label="Jobs per session",
        doc="Most jobs (simulation, training, evaluation) running at once in one "
        "served session.",
    )
    max_jobs_server = param.Integer(
        4,
        bounds=(1, 256),
        label="Jobs per server",
        doc="Most jobs running at once over all sessions of the server.",
    )

    @classmethod
    def from_environment(cls, environ=None) -> ServeLimits:
        """Defaults replaced by ``DBDVIZ_MAX_REPLICATES``, ``DBDVIZ_MAX_SIZE``,
        ``DBDVIZ_MAX_JOBS_SESSION``, ``DBDVIZ_MAX_JOBS_SERVER`` (integers)."""
        import os

        environ = os.environ if environ is None else environ
        values = {}
        for name in cls.public_names():
            text = environ.get("DBDVIZ_" + name.upper())
            if text is not None:
                try:
                    values[name] = int(text)
                except ValueError:
                    raise ValueError(
                        f"DBDVIZ_{name.upper()} = {text!r} is not an integer: allowed "
                        f"{format_range(cls.param[name])}"
                    ) from None
        return cls(**values)
