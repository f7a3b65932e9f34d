"""The hierarchy view: why the moments do not close (teaching), and the channels of
the learned closure once a model is evaluated."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from .. import plots
from .._compat import kw
from ..session import Session, session_or_new

__all__ = [
    "HierarchyView",
    "HIERARCHY_MD",
    "LESSON_MD",
    "CHANNELS_MD",
    "CHANNEL_OBSERVABLES",
]


# Markdown eats a backslash before punctuation, so display math avoids thin spaces and
# double bars (uses ~ and \Vert instead).
HIERARCHY_MD = r"""
### Why the moments do not close

Prey X and predators Y live on an L × L periodic lattice, one molecule per site.
Per unit time a prey reproduces with rate k<sub>1</sub>, a predator dies with rate
k<sub>2</sub>, and every molecule tries one hop to a random neighbour; when a hop hits
an X-Y pair the prey becomes a predator with probability p<sub>3</sub>. Taking
expectations, the **counts** depend on the **pairs** (a predation needs an X next to
a Y):

$$
\frac{d\langle n_X\rangle}{dt} \approx
k_1\langle n_X\rangle - c~p_3\langle N_{XY}\rangle,
\qquad
\frac{d\langle n_Y\rangle}{dt} \approx
c~p_3\langle N_{XY}\rangle - k_2\langle n_Y\rangle
$$

with c the chance per step that one of the two molecules of a bond hops onto the
other (c = 1/2 to first order for four neighbours; (8 − p<sub>3</sub>)/16 following
one bond through the hop sweep). The equations for the pairs
⟨N<sub>AB</sub>⟩ in turn contain **triplets** ⟨N<sub>ABC</sub>⟩, those contain
quadruplets, and so on: the *moment hierarchy* never closes by itself. A **closure**
cuts it by expressing the higher moments through lower ones.

### Mean field: forget space

Molecules are placed at random given the counts (N = L² sites, 2N bonds), so a pair
count follows from the two counts:

$$
\langle N_{XY}\rangle \approx \frac{4 n_X n_Y}{N-1},
\qquad
\langle N_{AA}\rangle \approx \frac{2 n_A (n_A-1)}{N-1}
$$

The counts then obey ordinary Lotka-Volterra equations. Mean field ignores that
predators cluster where they were born (next to eaten prey), so it overestimates
predation.

### Pair approximation: keep neighbours, forget the rest

Pairs get their own equations; triplets are closed through the pairs they share:

$$
\langle N_{ABC}\rangle \approx
\frac{\langle N_{AB}\rangle \langle N_{BC}\rangle}{\langle n_B\rangle}
$$

This keeps the correlation between neighbours but not longer-range structure.

### Learned closure: dynamic Boltzmann distributions

Instead of a formula, DBD learns a whole **distribution** over lattices, a deep
Boltzmann machine with visible biases, hidden layers and weights θ(t):

$$
p(s;\theta(t)) \propto e^{-E(s;\theta(t))},
\qquad
\frac{d\theta}{dt} = F(\theta),
\qquad
\min_F \int_0^T D_{KL}\left(p_{data}(t) \Vert p_{\theta(t)}\right) dt
$$

The right-hand side F is fitted to the simulated lattices with an adjoint method
(`docs/training.md` in the repository). Any moment, including the pairs and triplets the
hierarchy needs, is then an expectation under p(s; θ(t)).

*The exact equations of the simulator's step the dbdviz closures iterate (births in
continuous time, then the hop sweep with predation) are derived in
`docs/hierarchy.md`.*
"""


LESSON_MD = r"""
### The equations are exact; closing them is the approximation

Two curves from the same equations of one simulator step. **Exact equations with the
measured triplets**: at every time, the counts, pairs and triplets measured on the
simulated lattices are plugged in and one step is predicted; they track the
simulation. **Closed by pairs** (the pair approximation): the triplets are computed
from the pairs, as if the neighbours of a site were independent. From a random
placement that is exact (the first step agrees); then predators and prey
**segregate** into patches, X-Y contacts become rarer than any pair closure allows,
and the closed curve drifts away.
"""


CHANNELS_MD = r"""
### The learned closure, channel by channel

Under the learned distribution every moment Q moves because the parameters move:

$$
\frac{d\langle Q\rangle}{dt} = \sum_k \mathrm{Cov}(Q, M_k)~\frac{d\theta_k}{dt}
$$

(M<sub>k</sub> is the statistic that parameter θ<sub>k</sub> multiplies in the
energy). Each term is one *channel*: the plot shows which parameter carries which
part of the change of ⟨Q⟩, their sum, and the derivative of the simulated mean
(finite differences; the black curve low-pass filtered like the channels).
"""

CHANNEL_OBSERVABLES = ["X", "Y", "nnXX", "nnXY", "nnYY"]


class HierarchyView(Viewer):
    """Equations of the moment hierarchy and its closures, for teaching; once the
    session has an evaluated model, the closure channels of the learned DBD
    (:meth:`dbdviz.dbd.Evaluation.channels`) against the simulation's derivative."""

    observable = param.Selector(
        default="X", objects=CHANNEL_OBSERVABLES, label="Observable Q"
    )

    def __init__(self, session: Session | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.session = session_or_new(session)
        self._pane = pn.pane.Markdown(
            HIERARCHY_MD, sizing_mode="stretch_width", max_width=860
        )
        self.observable_select = pn.widgets.Select.from_param(
            self.param.observable,
            **kw(pn.widgets.Select, label="Observable Q", width=200),
        )
        self.channels_pane = pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=400
        )
        self.channels_info = pn.pane.Markdown(
            "_The channels of the learned closure appear here after training and "
            "its evaluation (Training tab)._",
            sizing_mode="stretch_width",
        )
        self.channels_box = pn.Column(
            pn.pane.Markdown(CHANNELS_MD, sizing_mode="stretch_width", max_width=860),
            self.observable_select,
            self.channels_pane,
            sizing_mode="stretch_width",
            visible=False,
        )
        self.lesson_button = pn.widgets.Button(
            **kw(
                pn.widgets.Button,
                label="Compare with the simulated lattices",
                color="primary",
            )
        )
        self.lesson_button.on_click(self._lesson)
        self.lesson_info = pn.pane.Markdown(
            "_Simulate first (Simulation tab), then compare._",
            sizing_mode="stretch_width",
        )
        self.lesson_pane = pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=380
        )
        self._lesson_cache: dict[str, Any] | None = None
        self.session.param.watch(self._refresh, ["evaluation", "simulation"])
        self.session.param.watch(self._forget_lesson, ["ensemble"])
        self.param.watch(self._draw_lesson, "observable")
        self.param.watch(self._refresh, "observable")
        self._layout = pn.Column(
            self._pane,
            pn.pane.Markdown(LESSON_MD, sizing_mode="stretch_width", max_width=860),
            pn.Row(
                self.lesson_button,
                pn.widgets.Select.from_param(
                    self.param.observable,
                    **kw(pn.widgets.Select, label="Observable Q", width=200),
                ),
            ),
            self.lesson_info,
            self.lesson_pane,
            self.channels_info,
            self.channels_box,
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout

    def lesson_data(self, max_replicates: int = 20) -> dict[str, Any]:
        """The simulation, the exact equations with its measured triplets, and the
        pair approximation, for the last ensemble.

        Returns
        -------
        dict
            ``t`` and, per observable of :data:`CHANNEL_OBSERVABLES`, arrays under
            ``"simulation"``, ``"measured"``, ``"pair"`` (each a dict obs -> array);
            ``n``: replicates measured (the simulation curve is their mean).

        Raises
        ------
        ValueError
            No ensemble, or one without lattices.
        """
        from ...closures import solve
        from ...closures.hierarchy import measured_step_table

        ens = self.session.ensemble
        if ens is None:
            raise ValueError("simulate first (Simulation tab)")
        n = min(int(max_replicates), ens.n_reps)
        measured = measured_step_table(ens, max_replicates=n)
        pair = self.session.closures.get("pair") or solve("pair", ens.config)
        sim = ens.observables[:n, :, :5].astype(float).mean(axis=0)
        names = CHANNEL_OBSERVABLES
        return {
            "t": measured.t,
            "n": n,
            "simulation": {o: sim[:, k] for k, o in enumerate(names)},
            "measured": {o: measured.mean[o] for o in names},
            "pair": {o: pair.mean[o] for o in names},
        }

    def _forget_lesson(self, *_events) -> None:
        self._lesson_cache = None
        self.lesson_pane.object = None
        self.lesson_info.object = "_Simulate first (Simulation tab), then compare._"

    def _lesson(self, *_events) -> None:
        try:
            self._lesson_cache = self.lesson_data()
        except ValueError as exc:
            self.lesson_info.object = f"_{exc}._"
            return
        self._draw_lesson()

    def _draw_lesson(self, *_events) -> None:
        d = self._lesson_cache
        if d is None:
            return
        obs = self.observable
        t = d["t"]
        self.lesson_pane.object = plots.moments_overlay(
            obs,
            [
                ("simulation", "simulation", t, d["simulation"][obs]),
                ("dbd", "exact equations, measured triplets", t, d["measured"][obs]),
                ("pair", "closed by pairs", t, d["pair"][obs]),
            ],
        )
        self.lesson_info.object = (
            f"_Simulation: mean of the first {d['n']} replicates; the equations "
            "with their measured counts, pairs and triplets predict each next "
            "step._"
        )

    def channel_data(self) -> dict[str, Any] | None:
        """Data of the channels plot for the current observable, or None.

        Returns
        -------
        dict
            ``t`` (n,), ``channels`` (n, P), ``names``, ``sum`` (n,), and from the
            simulation over the model's times ``true_t`` (m,), ``true`` (m,),
            ``true_smooth`` (m,) (absent without a simulation).
        """
        ev = self.session.evaluation
        if ev is None:
            return None
        from ...dbd import lowpass, moment_derivative

        obs = self.observable
        ch = ev.channels(obs)
        out = {
            "t": ch["t"],
            "channels": ch["channels"][obs],
            "names": list(ch["param_names"]),
            "sum": ch["sum"][obs],
        }
        sim = self.session.simulation
        if sim is not None and obs in sim.mean and ev.t.size:
            part = sim.slice(t_max=float(ev.t[-1]))
            if part.t.shape[0] >= 2:
                d = moment_derivative(part, obs)
                out["true_t"], out["true"] = d["t"], d[obs]
                taps = int(ev.meta.get("lowpass_taps", 63) or 0)
                out["true_smooth"] = lowpass(
                    d[obs],
                    taps if taps > 1 else 0,
                    padding=ev.meta.get("lowpass_padding", "odd"),
                )
        return out

    def figure(self):
        """The figure shown: the closure channels once a model is evaluated, else
        the lesson's comparison if computed, else None (the PNG export)."""
        if self.channels_box.visible and self.channels_pane.object is not None:
            return self.channels_pane.object
        return self.lesson_pane.object

    def _refresh(self, *_events) -> None:
        try:
            data = self.channel_data()
        except ValueError as exc:  # e.g. a single chain: no covariances
            self.channels_info.object = f"_No channels for this model: {exc}_"
            self.channels_box.visible = False
            return
        if data is None:
            self.channels_box.visible = False
            self.channels_info.object = (
                "_The channels of the learned closure appear here after training "
                "and its evaluation (Training tab)._"
            )
            return
        self.channels_pane.object = plots.channels_overlay(
            data["t"],
            data["channels"],
            data["names"],
            data["sum"],
            self.observable,
            data.get("true_t"),
            data.get("true"),
            data.get("true_smooth"),
        )
        ev = self.session.evaluation
        self.channels_info.object = (
            f"_Learned closure evaluated with {ev.table.n} chains per time point "
            f"(theta low-pass {ev.meta.get('lowpass_taps')} taps, covariances from "
            f"{ev.meta.get('cov_from')})._"
        )
        self.channels_box.visible = True
