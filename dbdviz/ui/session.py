"""Per-session state of the dashboard: :class:`Session`, and the helpers it needs.

One :class:`Session` per browser tab or notebook holds the configs, the last
ensemble, its moment tables, the closures and the learned model; every component
(:mod:`dbdviz.ui.components`) reads and writes it. No Panel here: param only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import param

from ..config import PRESETS, DBMConfig, LatticeLV, ServeLimits, TrainConfig, preset
from ..moments import MomentTable, read_moment_table
from .jobs import Job, active_jobs

__all__ = [
    "Session",
    "session_or_new",
    "reference_learned_path",
    "is_paper_config",
    "trainer_class",
    "training_defaults",
    "PROTOCOLS",
    "same_state",
]

log = logging.getLogger("dbdviz.ui")


def reference_learned_path() -> Path:
    """Where the C++ learned closure of the paper is looked for.

    ``$DBDVIZ_REFERENCE_DIR/cpp_dbd_learned_paper_lowpass.csv`` if that variable is
    set, else ``../shared/reference/`` next to the source checkout.
    """
    name = "cpp_dbd_learned_paper_lowpass.csv"
    env = os.environ.get("DBDVIZ_REFERENCE_DIR")
    if env:
        return Path(env) / name
    return Path(__file__).resolve().parents[2].parent / "shared" / "reference" / name


_PAPER_MODEL_KEYS = (
    "size",
    "birth",
    "death",
    "predation",
    "init_x",
    "init_y",
    "dt",
    "pick_mode",
    "birth_mode",
)


def is_paper_config(config: LatticeLV | None) -> bool:
    """Whether ``config`` has the ``paper`` model (any steps and replicates)."""
    if config is None:
        return False
    ref = PRESETS["paper"]
    return all(getattr(config, k) == ref[k] for k in _PAPER_MODEL_KEYS)


def trainer_class():
    """``dbdviz.dbd.Trainer``, imported on first use (keeps the app's start fast)."""
    from ..dbd import Trainer

    return Trainer


#: Training protocols offered by the training panel: label -> factory name in
#: ``dbdviz.dbd.train``.
PROTOCOLS = {
    "dbdviz defaults (measured)": "default_configs",
    "paper protocol (reference)": "reference_configs",
    "equilibrium (Boltzmann, carried chains)": "equilibrium_configs",
}


def training_defaults(protocol: str = "dbdviz defaults (measured)"):
    """Fresh ``(DBMConfig, TrainConfig)`` of a protocol (:data:`PROTOCOLS`).

    The trainer's measured defaults (``dbdviz.dbd.default_configs``); the bare
    config defaults when the training backend is missing.
    """
    try:
        from ..dbd import train as _train
    except ImportError:
        return DBMConfig(), TrainConfig()
    return getattr(_train, PROTOCOLS[protocol])()


class Session(param.Parameterized):
    """State of one dashboard session (one browser tab or one notebook).

    Components read and write these parameters; watchers (``param.depends``) update
    the plots. Build one per app instance, never share it between sessions.
    """

    config = param.ClassSelector(class_=LatticeLV, doc="Model and simulation settings.")
    dbm_config = param.ClassSelector(class_=DBMConfig, doc="DBM architecture.")
    train_config = param.ClassSelector(class_=TrainConfig, doc="Training settings.")
    preset_name = param.Selector(default="paper", objects=list(PRESETS))

    ensemble = param.Parameter(default=None, doc="Last simulated Ensemble (or None).")
    sim_config = param.ClassSelector(
        class_=LatticeLV,
        allow_None=True,
        doc="Copy of the config that made `ensemble`.",
    )
    simulation = param.ClassSelector(
        class_=MomentTable, allow_None=True, doc="Moments of `ensemble`."
    )
    closures = param.Dict(default={}, doc="Closure key -> MomentTable.")
    closure_errors = param.Dict(default={}, doc="Closure key -> error message.")
    learned = param.ClassSelector(
        class_=MomentTable,
        allow_None=True,
        doc="Moments of the DBD: live estimates while training, then the evaluation.",
    )
    model = param.Parameter(
        default=None, doc="The trained (or partly trained) DBDModel, or None."
    )
    evaluation = param.Parameter(
        default=None, doc="Full Evaluation of `model` (channels), or None."
    )
    presentation = param.Boolean(
        default=False,
        doc="Presentation mode: larger type and thicker lines in every plot.",
    )
    reference = param.ClassSelector(
        class_=MomentTable,
        allow_None=True,
        doc="C++ learned closure of the paper, if present.",
    )
    limits = param.ClassSelector(
        class_=ServeLimits,
        allow_None=True,
        doc="Resource limits of a served session (None: none, as in a notebook).",
    )
    depth_results = param.Dict(
        default={},
        doc="DBM depth -> {'table': MomentTable, 'errors': {observable: NRMSE}} of "
        "the last training finished at that depth on `ensemble` (the Training tab's "
        "depth comparison); a new ensemble clears it.",
    )
    prediction = param.ClassSelector(
        class_=MomentTable,
        allow_None=True,
        doc="The model's prediction (dbdviz.dbd.predict.Prediction) of "
        "`prediction_config`, or None.",
    )
    prediction_config = param.ClassSelector(
        class_=LatticeLV, allow_None=True, doc="Copy of the config predicted."
    )
    prediction_closures = param.Dict(
        default={}, doc="Closure key -> MomentTable of `prediction_config`."
    )

    def __init__(self, preset_name: str = "paper", **params: Any) -> None:
        params.setdefault("config", preset(preset_name))
        if "dbm_config" not in params or "train_config" not in params:
            dbm_config, train_config = training_defaults()
            params.setdefault("dbm_config", dbm_config)
            params.setdefault("train_config", train_config)
        super().__init__(preset_name=preset_name, **params)
        self.jobs: list[Job] = []
        path = reference_learned_path()
        if path.is_file():
            try:
                self.reference = read_moment_table(path, label="cpp-reference")
            except (OSError, ValueError) as exc:  # a broken file must not break the app
                log.warning("cannot read %s: %s", path, exc)

    def add_job(self, job: Job) -> Job:
        self.jobs = [j for j in self.jobs if j.running] + [job]
        return job

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.running]

    def config_refusal(self, config: LatticeLV) -> str | None:
        """Why this session may not simulate ``config`` (its :attr:`limits`, the
        memory available), or None."""
        from .._memory import MemoryLimitError
        from ..simulate import check_memory

        lim = self.limits
        if lim is not None:
            if config.replicates > lim.max_replicates:
                return (
                    f"Replicates = {config.replicates} exceeds this server's limit "
                    f"of {lim.max_replicates} per simulation."
                )
            if config.size > lim.max_size:
                return (
                    f"Lattice size = {config.size} exceeds this server's limit of "
                    f"{lim.max_size}."
                )
        try:
            check_memory(config)
        except MemoryLimitError as exc:
            return str(exc)
        return None

    def job_refusal(self) -> str | None:
        """Why this session may not start another job now (:attr:`limits`), or
        None."""
        lim = self.limits
        if lim is None:
            return None
        mine = sum(1 for j in self.jobs if j.alive)  # threads, polled or not
        if mine >= lim.max_jobs_session:
            return (
                f"This session already runs {mine} job(s), at most "
                f"{lim.max_jobs_session} at once: wait for one or press Stop."
            )
        everyone = len(active_jobs())
        if everyone >= lim.max_jobs_server:
            return (
                f"The server already runs {everyone} job(s), at most "
                f"{lim.max_jobs_server} at once over all sessions: try again later."
            )
        return None

    def shutdown(self) -> list[str]:
        """Stop every job of this session and wait briefly; return their names."""
        names = [j.name for j in self.jobs if j.running or j.alive]
        for j in self.jobs:
            j.shutdown()
        return names


#: Settings that define a state (initial counts, rates, lattice): a prediction and a
#: simulation of the same state are compared.
STATE_KEYS = ("init_x", "init_y", "birth", "death", "predation", "size", "dt")


def same_state(a: LatticeLV | None, b: LatticeLV | None) -> bool:
    """Whether two configs start from the same state with the same rates."""
    if a is None or b is None:
        return False
    return all(getattr(a, k) == getattr(b, k) for k in STATE_KEYS)


def session_or_new(session: Session | None) -> Session:
    """``session``, or a new :class:`Session` when it is None."""
    return session if session is not None else Session()
