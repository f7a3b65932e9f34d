"""Cells of ``notebooks/00_explorer.ipynb`` (written by ``scripts/build_notebooks.py``).

The explorer in Jupyter: the whole dashboard as one output, and one component bound
to an ensemble simulated in a cell. ``tests/test_jupyter.py`` opens this notebook in
a real JupyterLab, runs it and presses Simulate, Train and Stop in its output.
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell

NAME = "00_explorer.ipynb"


def nb00():
    return [
        new_markdown_cell(
            "# 00 - The explorer in Jupyter\n\n"
            "The dashboard of `dbdviz serve`, inside this notebook: the same components, "
            "live while they simulate and train. Everything works offline: Panel's "
            "JavaScript and styles come with the notebook or from this Jupyter server, "
            "never from the internet.\n\n"
            "Run the cells from the top (**Run > Run All Cells**). "
            "`extension()` must come first: it loads Panel and HoloViews for the "
            "notebook."
        ),
        new_code_cell(
            "import os\n"
            "from dbdviz.ui.notebook import Explorer, extension, session_for\n\n"
            "extension()\n\n"
            "# CI runs the notebooks on small settings; in class, unset this for the full picture.\n"
            'SMALL = os.environ.get("DBDVIZ_NOTEBOOK_SMALL") == "1"'
        ),
        new_markdown_cell(
            "Compile the simulator and the trainer now, so that the first **Simulate** "
            "and **Train** answer at once (about a minute the very first time, a few "
            "seconds once numba's cache holds them)."
        ),
        new_code_cell("from dbdviz.dbd import warmup\n\nwarmup()"),
        new_markdown_cell(
            "## The whole explorer\n\n"
            "1. Press **Simulate**: the ensemble's mean with its 95 % band, the mean-field "
            "and pair closures appear in the **Moments** tab.\n"
            "2. Open the **Training** tab and press **Train**: the parameters "
            "$\\theta(t)$ and the errors draw while the dynamic Boltzmann distribution "
            "learns, and the **DBD learned** curve of the Moments tab follows it live.\n"
            "3. **Stop** ends the training; the model trained so far is kept.\n\n"
            "The lesson under the settings walks through the rest."
        ),
        new_code_cell('explorer = Explorer("demo")\nexplorer'),
        new_markdown_cell(
            "The explorer's parts are Python objects: `explorer.session` holds the "
            "settings, the ensemble, the closures and the learned model; "
            "`explorer.training.stop()` does what the Stop button does."
        ),
        new_markdown_cell(
            "## One component, bound to a cell's ensemble\n\n"
            "Every tab is a component that can be shown alone. Here the moments view "
            "shows an ensemble simulated in the next cell, with its closures "
            "(`session_for` puts them into a session of its own, so this view does not "
            "follow the explorer above)."
        ),
        new_code_cell(
            "from dbdviz.config import preset\n"
            "from dbdviz.simulate import simulate\n\n"
            'config = preset("demo", replicates=20 if SMALL else 100, seed=3)\n'
            "ens = simulate(config)\n"
            "session = session_for(ens)\n"
            "print(f'{config.replicates} replicates of {config.steps} steps in {ens.elapsed:.1f} s')"
        ),
        new_code_cell(
            "from dbdviz.ui.components import MomentsView\n\n"
            'view = MomentsView(session, observable="nnXY")\n'
            "view"
        ),
        new_markdown_cell(
            "The view follows its parameters: set them from Python and the output above "
            "redraws (here: the predators, with the spread of single replicates)."
        ),
        new_code_cell('view.observable = "Y"\nview.curves = [*view.curves, "spread"]'),
    ]
