"""The lattice view: simulated snapshots over time, and samples of the learned DBM."""

from __future__ import annotations

import logging
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
from panel.viewable import Viewer

from ...moments import OBSERVABLES
from .. import plots
from .._compat import widget
from ..session import Session, session_or_new

__all__ = ["LatticeView", "SAMPLES_HINT"]

log = logging.getLogger("dbdviz.ui")


SAMPLES_HINT = "_Train a DBD to see samples of the learned model here._"


class LatticeView(Viewer):
    """Snapshots of one replicate over time (a player), X and Y in fixed colours.

    Once the session has a learned model, a sample of the learned DBM at the same
    time t is drawn beside the simulated lattice: its visible layer in the species
    colours and every hidden layer as a small image. The sample is one chain sampled
    as in training (:func:`dbdviz.dbd.procedure.sampling_procedure`, the sampler
    behind the learned curves); its seed follows the replicate slider, so moving it
    draws another sample.
    Beyond the trained horizon theta(t) is extrapolated with the learned dynamics.
    """

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self.replicate = widget(
            pn.widgets.IntSlider,
            label="Replicate",
            start=0,
            end=1,
            value=0,
            disabled=True,
            width=260,
        )
        self.time = widget(
            pn.widgets.Player,
            label="Time step",
            start=0,
            end=1,
            value=0,
            interval=120,
            loop_policy="once",
            disabled=True,
            show_loop_controls=False,
            width=420,
        )
        L = self.session.config.size
        self.pipe = hv.streams.Pipe(data=(np.zeros((L, L), np.uint8), "no lattice yet"))
        self.image = hv.DynamicMap(
            lambda data: plots.lattice_rgb(*data), streams=[self.pipe]
        )
        self.info = pn.pane.Markdown("Press **Simulate** to see the lattice.")
        self.samples = pn.pane.Markdown(SAMPLES_HINT, width=380)
        self.sample_pipe = hv.streams.Pipe(
            data=(np.zeros((L, L), np.uint8), "learned DBM")
        )
        self.sample_pane = pn.pane.HoloViews(
            hv.DynamicMap(
                lambda data: plots.lattice_rgb(*data), streams=[self.sample_pipe]
            ),
            linked_axes=False,
        )
        # Visibility is toggled on a layout: Panel 1.9 fails to toggle it on a
        # rendered HoloViews pane (stylesheet type error).
        self.sample_box = pn.Column(self.sample_pane, visible=False)
        #: One Pipe per hidden layer of the current model.
        self.hidden_pipes: list[hv.streams.Pipe] = []
        self.hidden_row = pn.Row()
        self._model_cache: tuple[Any, Any, np.ndarray] | None = None
        self.replicate.param.watch(self._update, "value")
        self.time.param.watch(self._update, "value")
        self.session.param.watch(self._on_ensemble, "ensemble")
        self.session.param.watch(self._on_model, "model")
        legend = pn.pane.HTML(
            "".join(
                f'<span style="display:inline-block;width:12px;height:12px;'
                f'background:rgb{SPECIES}"></span>&nbsp;{name}&nbsp;&nbsp;'
                for name, SPECIES in (
                    ("empty", plots.SPECIES_COLORS["empty"]),
                    ("X prey", plots.SPECIES_COLORS["X"]),
                    ("Y predator", plots.SPECIES_COLORS["Y"]),
                )
            )
        )
        hidden_legend = pn.pane.HTML(
            "hidden units: "
            + "".join(
                f'<span style="display:inline-block;width:12px;height:12px;'
                f'background:rgb{c}"></span>&nbsp;{name}&nbsp;&nbsp;'
                for name, c in (
                    ("off", plots.HIDDEN_COLORS["off"]),
                    ("A", plots.HIDDEN_COLORS["A"]),
                    ("B", plots.HIDDEN_COLORS["B"]),
                )
            )
        )
        # rows that wrap: a narrow output (a notebook beside the settings) shows
        # them one under the other instead of cutting them off
        self._layout = pn.Column(
            pn.FlexBox(self.replicate, self.time, sizing_mode="stretch_width"),
            legend,
            pn.FlexBox(
                pn.pane.HoloViews(self.image, linked_axes=False),
                pn.Column(self.sample_box, self.samples),
                sizing_mode="stretch_width",
            ),
            self.info,
            self.hidden_row,
            hidden_legend,
        )

    def __panel__(self):
        return self._layout

    def _on_ensemble(self, event) -> None:
        ens = event.new
        has = ens is not None and getattr(ens, "snapshots", None) is not None
        self.replicate.disabled = self.time.disabled = not has
        if not has:
            self.info.object = (
                "This ensemble has no snapshots (enable *Keep snapshots* "
                "under Advanced)."
                if ens is not None
                else ""
            )
            return
        reps, times = ens.snapshots.shape[:2]
        self.time.param.update(end=max(times - 1, 1), value=0)
        self.replicate.param.update(end=max(reps - 1, 1), value=0)
        self._update()

    def frame(self) -> tuple[np.ndarray, str] | None:
        """Current (lattice uint8 (L, L), title), or None without snapshots."""
        ens = self.session.ensemble
        snaps = getattr(ens, "snapshots", None) if ens is not None else None
        if snaps is None:
            return None
        r = min(self.replicate.value, snaps.shape[0] - 1)
        k = min(self.time.value, snaps.shape[1] - 1)
        t = float(ens.t[k])
        return np.ascontiguousarray(snaps[r, k]), f"replicate {r}, t = {t:g}"

    # -- samples of the learned model -------------------------------------------
    def _on_model(self, event) -> None:
        m = event.new
        self._model_cache = None
        self.hidden_pipes = []
        self.hidden_row.objects = []
        if m is None:
            self.sample_box.visible = False
            self.samples.object = SAMPLES_HINT
            return
        L = m.size
        for layer in range(1, m.dbm_config.depth + 1):
            pipe = hv.streams.Pipe(data=(np.zeros((L, L), np.int8), f"hidden {layer}"))
            self.hidden_pipes.append(pipe)
            self.hidden_row.append(
                pn.pane.HoloViews(
                    hv.DynamicMap(
                        lambda data: plots.lattice_rgb(*data, "hidden", 190),
                        streams=[pipe],
                    ),
                    linked_axes=False,
                )
            )
        self.sample_box.visible = True
        self._update()

    def _model_parts(self):
        """(model, DBM, theta over the data's times), cached per model."""
        m = self.session.model
        if self._model_cache is None or self._model_cache[0] is not m:
            ens = self.session.ensemble
            n = m.horizon
            if ens is not None:
                n = max(n, int(round(float(ens.t[-1]) / m.dt)))
            theta = m.theta if n <= m.horizon else m.integrate(n)
            self._model_cache = (m, m.dbm(), np.asarray(theta, dtype=np.float64))
        return self._model_cache

    def learned_sample(self) -> tuple[np.ndarray, str] | None:
        """A sample of the learned DBM at the player's time, or None without a model.

        Returns
        -------
        states : ndarray of int8, shape (n_layers, L, L)
            Layer 0 is the visible lattice (0 empty, 1 X, 2 Y), then hidden layers.
        title : str
        """
        m = self.session.model
        if m is None:
            return None
        m, dbm, theta = self._model_parts()
        ens = self.session.ensemble
        k = self.time.value
        t = float(ens.t[min(k, len(ens.t) - 1)]) if ens is not None else k * m.dt
        tau = min(int(round(t / m.dt)), theta.shape[0] - 1)
        row = theta[tau]
        if not np.all(np.isfinite(row)):
            return None
        from ..._rng import seed_states
        from ...dbd.procedure import sampling_procedure

        rng = seed_states(1_000_003 * int(self.replicate.value) + tau, 1)
        states = dbm.init_chains(1, rng)
        init, sweeps = sampling_procedure(m)
        # carried chains are in equilibrium: a burn-in stands in for the carrying
        dbm.sample(row, states, sweeps + (100 if init == "carry" else 0), seed=rng)
        where = " (extrapolated)" if tau > m.horizon else ""
        return states[0], f"learned DBM, t = {tau * m.dt:g}{where}"

    def _update_sample(self) -> None:
        try:
            smp = self.learned_sample()
        except Exception as exc:  # a broken model must not break the player
            log.info("learned sample failed: %s", exc)
            smp = None
        if smp is None:
            if self.session.model is not None:
                self.samples.object = "_No sample: theta(t) is not finite here._"
            return
        states, title = smp
        self.sample_pipe.send((states[0], title))
        for layer, pipe in enumerate(self.hidden_pipes, start=1):
            if layer < states.shape[0]:
                pipe.send((states[layer], f"hidden layer {layer}"))
        from ...dbd.procedure import sampling_procedure

        m = self.session.model
        init, sweeps = sampling_procedure(m)
        how = (
            f"random start, {sweeps} sweeps"
            if init == "random"
            else f"random start, {sweeps + 100} sweeps"
        )
        self.samples.object = (
            f"One chain of the learned DBM ({how}, as in training); trained up to "
            f"t = {m.horizon * m.dt:g}."
        )

    def _update(self, *_events) -> None:
        if self.session.model is not None:
            self._update_sample()
        fr = self.frame()
        if fr is None:
            return
        self.pipe.send(fr)
        ens = self.session.ensemble
        r, k = min(self.replicate.value, ens.observables.shape[0] - 1), self.time.value
        o = ens.observables[r, k]
        self.info.object = (
            f"t = {float(ens.t[k]):g}: X = {o[0]}, Y = {o[1]}, "
            f"XY pairs = {o[OBSERVABLES.index('nnXY')]}"
        )
