"""The teacher's path: a short lesson through the dashboard, and a glossary of the
symbols it shows. Text only; it reads no session state."""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.viewable import Viewer

__all__ = ["LessonPanel", "LESSON_MD", "GLOSSARY_MD"]

LESSON_MD = """
**1. Simulate.** Preset *paper*, press **Simulate**. Black: the average of the runs;
grey band: where that average lies (95 %). *Replicate spread* shows where single runs
go: each run is noisy, the average is smooth.

**2. The closures fail.** *Mean field* (blue, dashed) and *pair approximation* (green,
dot-dash) predict the averages from averages alone. The table under the plot gives
their error (NRMSE): 80-100 % at the paper's rates. With the preset *weak coupling*
they come much closer.

**3. Why: pairs.** Open *Lattice* and press play: prey (green) and predators (orange)
grow in patches. A prey meets a predator only at an XY neighbour pair, and there are
far fewer of them than a random placement would give (observable *nnXY*). The change
of X depends on the pairs, the pairs on triplets, and so on (*Hierarchy* tab): a
closure has to guess the next level, and guessing "random" is wrong here.

**4. Learn a closure.** *Training* tab, **Train**. A Boltzmann distribution over
lattices with parameters theta(t) is fitted to the simulated lattices; its curve
(*DBD learned*, solid vermillion) follows the simulation where the closures do not.

**5. Explore.** Presets *fast oscillations* and *predator extinction*; the
*Phase plane* tab shows Y against X.
"""

GLOSSARY_MD = """
- **X, Y**: number of prey and of predators on the lattice.
- **nnXX, nnXY, nnYY**: nearest-neighbour pairs (an X next to an X, an X next to a
  Y, ...). **nnnXX ...**: diagonal neighbours. **nnn3XX ...**: pairs at distance 2
  and diagonal, as the reference program counts them.
- **mean field**: assumes molecules are placed at random (well mixed).
  **pair approximation**: keeps the pairs, guesses the triplets.
- **NRMSE**: error over time (root mean square) divided by the simulation's mean.
- **DBD**: dynamic Boltzmann distribution, a Boltzmann machine whose parameters
  theta(t) change with time; its averages are the learned closure.
- **hX, hY**: biases, how likely a site holds an X or a Y.
  **JXX, JXY, JYY**: couplings of neighbouring sites (positive: the pair is more
  likely than at random).
- **hidden layers, channels A/B**: extra lattices of hidden units in a deep
  Boltzmann machine; each hidden unit is off or on in channel A (linked to X) or B
  (linked to Y). **bX1, bY1**: their biases, **wXX1, wYY1**: their weights.
- **awake / asleep**: the two halves of a training step: statistics of the simulated
  lattices (awake) and of samples from the model (asleep); training moves theta until
  they agree.
- **adjoint / refinement**: the two phases of training: gradient steps through the
  equations of theta(t), then a fit of the whole path to the data.
"""


class LessonPanel(Viewer):
    """A 20-minute lesson (simulate, closures fail, why: pairs, learn a closure) and
    the glossary, as two collapsible cards."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.lesson = pn.Card(
            pn.pane.Markdown(LESSON_MD, sizing_mode="stretch_width"),
            title="Lesson: why averages need a closure",
            collapsed=False,
            sizing_mode="stretch_width",
        )
        self.glossary = pn.Card(
            pn.pane.Markdown(GLOSSARY_MD, sizing_mode="stretch_width"),
            title="Glossary of symbols",
            collapsed=True,
            sizing_mode="stretch_width",
        )
        self._layout = pn.Column(
            self.lesson, self.glossary, sizing_mode="stretch_width"
        )

    def __panel__(self):
        return self._layout
