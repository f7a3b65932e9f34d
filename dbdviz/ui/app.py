"""The dbdviz dashboard: ``create_app()`` composes the components in a template.

Served by ``panel serve apps/dashboard.py`` (and ``dbdviz serve``) at ``/dashboard``.
Every call builds a fresh :class:`~dbdviz.ui.session.Session` and fresh components
(:mod:`dbdviz.ui.components`),
so each browser tab has its own state; when the tab's session is destroyed, its
background jobs are stopped.
"""

from __future__ import annotations

import logging

import panel as pn

from ._compat import widget
from .components import (
    ExportPanel,
    HierarchyView,
    LatticeView,
    LessonPanel,
    ModelPanel,
    MomentsView,
    PhaseView,
    PredictPanel,
    RegimeMap,
    TrainingPanel,
)
from .session import Session

__all__ = ["create_app", "serve_stylesheets_locally", "App", "INTRO_MD"]

log = logging.getLogger("dbdviz.ui")

INTRO_MD = """
**Predators and prey on a lattice, and how to predict their averages.**
Pick a preset on the left and press **Simulate**; the lesson under the settings walks
through it, the glossary explains the symbols.
"""

#: The page's own stylesheet: readable type (15-16 px) and, on the ``<html>`` element's
#: class ``dbd-presentation`` (the Presentation switch), larger type for a projector.
#: Custom properties and ``font-size`` inherit into the components' shadow roots.
PAGE_CSS = """
:root { --bokeh-font-size: 15px; font-size: 18px; }
html.dbd-presentation { --bokeh-font-size: 19px; font-size: 23px; }
"""

#: Accessibility the Bokeh/Panel widgets lack, added in the browser (served pages):
#: tabs announced as tabs (role tab/tablist, aria-selected, keyboard focus) and a
#: title on every icon-only button (player, number-box arrows, the collapse button of
#: a card). Re-applied every second: tabs and players are created when their views
#: render.
A11Y_JS = """
const TITLES = {slower: 'Slower', first: 'First time step',
  previous: 'Previous time step', reverse: 'Play backwards', pause: 'Pause',
  play: 'Play', next: 'Next time step', last: 'Last time step', faster: 'Faster',
  'bk-spin-btn-up': 'Increase', 'bk-spin-btn-down': 'Decrease',
  'card-header': 'Show or hide this section'};
const fix = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) fix(el.shadowRoot);
    const cl = el.classList;
    if (el.tagName === 'BUTTON' && !el.title)
      for (const [c, t] of Object.entries(TITLES))
        if (cl.contains(c)) { el.title = t; el.setAttribute('aria-label', t); }
    if (cl.contains('bk-headers-wrapper')) el.setAttribute('role', 'tablist');
    if (cl.contains('bk-tab')) {
      el.setAttribute('role', 'tab');
      el.setAttribute('aria-selected', cl.contains('bk-active') ? 'true' : 'false');
      if (!el.hasAttribute('tabindex')) el.tabIndex = 0;
    }
  }
};
fix(document);
setInterval(() => fix(document), 1000);
document.addEventListener('click', () => setTimeout(() => fix(document), 50), true);
"""

#: Tab headers wrap (Bokeh: one row that scrolls sideways).
TABS_CSS = ".bk-headers-wrapper { flex-wrap: wrap; overflow-x: visible; }"


class App:
    """One dashboard instance: a session, its components and the template."""

    def __init__(self, preset: str = "paper") -> None:
        self.session = Session(preset_name=preset)
        self.model = ModelPanel(self.session)
        self.moments = MomentsView(self.session)
        self.lattice = LatticeView(self.session)
        self.training = TrainingPanel(self.session)
        self.predict = PredictPanel(self.session)
        self.hierarchy = HierarchyView(self.session)
        self.regime_map = RegimeMap(self.session)
        self.phase = PhaseView(self.session)
        self.export = ExportPanel(
            self.session,
            moments=self.moments,
            phase=self.phase,
            training=self.training,
            hierarchy=self.hierarchy,
        )
        self.lesson = LessonPanel()
        self.tabs = pn.Tabs(
            ("Moments", self.moments),
            ("Phase plane", self.phase),
            ("Lattice", self.lattice),
            ("Training", self.training),
            ("Hierarchy", self.hierarchy),
            ("Regime map", self.regime_map),
            ("Export", self.export),
            dynamic=False,
            sizing_mode="stretch_width",
            # more tabs than one line holds (large type, a narrow screen) wrap to a
            # second line instead of scrolling sideways
            stylesheets=[TABS_CSS],
        )
        # the server's Dask cluster starts when the map is first shown (it costs
        # two worker processes), so it is ready when Run map is pressed
        self.tabs.param.watch(self._on_tab, "active")
        #: Larger type and thicker lines for a projector (the page's class
        #: ``dbd-presentation`` in the browser, ``session.presentation`` for plots).
        self.presentation = widget(
            pn.widgets.Toggle,
            label="Presentation",
            value=False,
            color="light",
            width=130,
            margin=(8, 10),
        )
        self.presentation.jscallback(
            value="document.documentElement.classList.toggle("
            "'dbd-presentation', cb_obj.active)"
        )
        self.presentation.link(self.session, value="presentation")
        # Bootstrap: every resource is bundled with Panel, so the page loads offline
        # (the Fast templates always fetch a Google font).
        self.template = pn.template.BootstrapTemplate(
            title="dbdviz",
            header=[self.presentation],
            sidebar=[
                self.model,
                pn.pane.Markdown("### Predict (trained model)"),
                self.predict,
                self.lesson,
            ],
            main=[pn.pane.Markdown(INTRO_MD, sizing_mode="stretch_width"), self.tabs],
            sidebar_width=350,
            header_background="#0072B2",
        )
        self.template.config.raw_css.append(PAGE_CSS)

    def _on_tab(self, event) -> None:
        if self.tabs[event.new] is self.regime_map:
            self.regime_map.prepare()

    def shutdown(self) -> list[str]:
        """Stop this instance's jobs (called when the browser session ends)."""
        names = self.session.shutdown()
        log.info("dbdviz session destroyed: stopped %d job(s) %s", len(names), names)
        return names


def serve_stylesheets_locally(doc) -> None:
    """Make every stylesheet of ``doc`` load from this server, not from the CDN.

    Panel creates a component's stylesheets with CDN URLs and rewrites them to the
    server's ``static/extensions/panel/`` only when its page handler renders the
    HTML page of the session (``server_html_page_for_session`` sets the
    document's ``dist_url`` template variable and patches the models). A session
    can also be created by the browser's websocket: when the page's session was
    destroyed before the browser connected (``--unused-session-lifetime`` elapsed,
    e.g. while another tab's training kept the server busy), Bokeh builds a new
    session for the connection, and its models keep the CDN URLs (offline: console
    errors and unstyled widgets). Setting ``dist_url`` before any model exists
    makes Panel write local URLs from the start, whichever way the session began.
    Only for the default ``server`` resources (``--resources cdn`` keeps the CDN).
    """
    from bokeh.settings import settings
    from panel.io.resources import LOCAL_DIST

    if settings.resources(default="server") != "server":
        return
    rel = pn.state.rel_path
    doc.template_variables.setdefault(
        "dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST
    )


_LIMITS: dict = {}


def set_serve_limits(limits) -> None:
    """The :class:`~dbdviz.config.ServeLimits` of this server's sessions (``dbdviz
    serve`` sets them from its options)."""
    _LIMITS["limits"] = limits


def serve_limits():
    """This server's :class:`~dbdviz.config.ServeLimits`: set by ``dbdviz serve``,
    else from the environment (``DBDVIZ_MAX_REPLICATES`` ...)."""
    from ..config import ServeLimits

    if "limits" not in _LIMITS:
        _LIMITS["limits"] = ServeLimits.from_environment()
    return _LIMITS["limits"]


def _guard_session(doc) -> str | None:
    """Install the request guard in this serving process (``dbdviz.ui.guard``) and
    check the request that created this session; the reason it is refused or None."""
    from . import guard

    guard.install(guard.policy())
    request = getattr(doc.session_context.request, "_request", None)
    reason = guard.refusal(request) if request is not None else None
    if reason is not None:
        log.warning("dbdviz session refused: %s", reason)
    return reason


def create_app(preset: str = "paper") -> pn.template.BootstrapTemplate:
    """Build the dashboard for one session.

    Returns
    -------
    pn.template.BootstrapTemplate
        Title ``dbdviz``; the :class:`App` is reachable as ``template.app`` (tests).
        In a served session whose request the guard refuses
        (:mod:`dbdviz.ui.guard`: a foreign Host or a client on another machine), a
        one-line Markdown pane instead, with no session state and no jobs.
    """
    pn.extension("katex", "mathjax", notifications=False)
    doc = pn.state.curdoc
    served = doc is not None and doc.session_context is not None
    if served:
        reason = _guard_session(doc)
        if reason is not None:
            return pn.pane.Markdown(f"dbdviz: refused: {reason}")
        # before any model exists (see serve_stylesheets_locally)
        serve_stylesheets_locally(doc)
        from bokeh.models import CustomJS

        doc.js_on_event("document_ready", CustomJS(code=A11Y_JS))
    app = App(preset)
    if served:  # anyone reaching the server may open a page: ServeLimits apply
        app.session.limits = serve_limits()
    if served:
        # Only inside a served session: elsewhere Panel would keep the callback in a
        # process-wide list.
        # Job start/stop/session lines go to the server log (tests read them there).
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        log.info("dbdviz session created")

        def _destroyed(session_context):  # Bokeh checks this exact signature
            app.shutdown()

        pn.state.on_session_destroyed(_destroyed)
    app.template.app = app
    return app.template
