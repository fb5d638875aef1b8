"""The dashboards' routes, served on their own (``serve``: Panel's Tornado server) or inside
the API's process under a prefix (``mount``: Panel's FastAPI integration). Either way the
pages read the API over HTTP at ``api_url``, never the database.

Each route builds its page for the login in the session cookie; without one the browser is
sent to the login page (``login?next=…``), and back to it when the API refuses the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import panel as pn

from phoenix_dashboards.browser import BrowserActions
from phoenix_dashboards.cardinality import CardinalityPage
from phoenix_dashboards.compare import ComparePage
from phoenix_dashboards.compare_tables import parse_ids
from phoenix_dashboards.cost import CostPage
from phoenix_dashboards.data import DashboardClient, connect
from phoenix_dashboards.experiment import ExperimentPage
from phoenix_dashboards.experiments import ExperimentsPage
from phoenix_dashboards.fleet import FleetPage
from phoenix_dashboards.login import LoginPage
from phoenix_dashboards.page import LivePage
from phoenix_dashboards.sessions import SESSION_COOKIE, LoginSessions
from phoenix_dashboards.template import PAGES, Site, site_page

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["Dashboards", "mount", "serve"]

Drawn = pn.viewable.Viewable | pn.template.BaseTemplate
"""What a route draws: the page in its template, or a redirect."""

log = logging.getLogger(__name__)


class Dashboards:
    """Every page of one dashboards server, and the logins it holds."""

    def __init__(self, api_url: str, root: str = "", sessions: LoginSessions | None = None):
        self.site = Site(root.rstrip("/"), api_url.rstrip("/"))
        self.sessions = sessions or LoginSessions(lambda token: connect(self.site.api_url, token))
        _plots_on_canvas()

    def routes(self) -> dict[str, Any]:
        """Route → the function that builds its page for each browser session."""
        pages = {
            "/": self.fleet,
            "/fleet": self.fleet,
            "/experiments": self.experiments,
            "/experiment": self.experiment,
            "/compare": self.compare,
            "/cost": self.cost,
            "/cardinality": self.cardinality,
            "/login": self.login,
        }
        return {route: guarded(build) for route, build in pages.items()}

    def titles(self) -> dict[str, str]:
        names = {route: route.strip("/").title() or "Fleet" for route in self.routes()}
        return {route: f"Phoenix · {name}" for route, name in names.items()}

    # --- the pages -------------------------------------------------------------------------

    def fleet(self) -> Drawn:
        return self._page("fleet", lambda visit: FleetPage(visit.client, visit.ended))

    def experiments(self) -> Drawn:
        def build(visit: Visit) -> LivePage:
            def open_experiment(experiment_id: str) -> None:
                visit.browser.go_to(self.site.url("experiment", id=experiment_id))

            return ExperimentsPage(visit.client, visit.ended, open_experiment=open_experiment)

        return self._page("experiments", build)

    def experiment(self) -> Drawn:
        experiment_id = _argument("id")

        def build(visit: Visit) -> LivePage:
            return ExperimentPage(visit.client, visit.ended, experiment_id=experiment_id)

        return self._page("experiment", build)

    def compare(self) -> Drawn:
        chosen = parse_ids(_argument("ids"))
        return self._page("compare", lambda v: ComparePage(v.client, v.ended, experiments=chosen))

    def cost(self) -> Drawn:
        return self._page("cost", lambda visit: CostPage(visit.client, visit.ended))

    def cardinality(self) -> Drawn:
        given = {name: _argument(name) for name in CardinalityPage.QUERY_PARAMETERS}
        inputs = CardinalityPage.inputs_from_query(given, _arguments("critical"))

        def build(visit: Visit) -> LivePage:
            def experiment_url(experiment_id: str) -> str:
                return self.site.url("experiment", id=experiment_id)

            return CardinalityPage(
                visit.client, visit.ended, experiment_url=experiment_url, **inputs
            )

        return self._page("cardinality", build)

    def login(self) -> Drawn:
        browser = BrowserActions(cookie_path=self.site.cookie_path)
        after = _argument("next")
        target = self.site.url(after if after in PAGES else "fleet")

        def logged_in(session_id: str) -> None:
            browser.set_session(session_id, target)

        page = LoginPage(self.sessions, self.site.api_url, logged_in,
                         reason=self.sessions.farewell(_cookie()) or "")  # fmt: skip
        return site_page(self.site, "Log in", [page, browser])

    # --- what every page shares --------------------------------------------------------------

    def _page(self, route: str, build: Callable[[Visit], LivePage]) -> Drawn:
        """The page ``build`` makes for the session's login, in the template; without a login,
        a redirect to the login page (which comes back here)."""
        browser = BrowserActions(cookie_path=self.site.cookie_path)
        session = self.sessions.get(_cookie())
        back_here = self.site.url("login", next=route)
        if session is None:
            browser.go_to(back_here)
            return pn.Column(pn.pane.Markdown("Not logged in: to the login page…"), browser)

        def ended(reason: str) -> None:
            self.sessions.end(session.id, reason)
            browser.go_to(back_here)

        def log_out() -> None:
            self.sessions.end(session.id, "You logged out.")
            browser.clear_session(self.site.url("login"))

        page = build(Visit(session.client, browser, ended))
        page.start()
        controls = [*page.refresh_controls(), *page.controls()]
        return site_page(self.site, page.title, [page, browser], controls, log_out)


def _plots_on_canvas() -> None:
    """Every page's HoloViews plots draw on a 2D canvas, not HoloViews' default WebGL: a
    browser without a GPU (this machine's Chromium) emulates WebGL, one context per plot, and
    the Experiment detail page with its 9 plots drew 1.2 s later (bench/dashboard_detail.py)."""
    from holoviews.plotting.bokeh.renderer import BokehRenderer

    BokehRenderer.webgl = False


def guarded(build: Callable[[], Any]) -> Callable[[], Any]:
    """``build``, or when it fails, a page saying so in one sentence: the traceback goes to
    the log, never to the browser (Panel's own error page shows it)."""

    def page() -> Any:
        try:
            return build()
        except Exception as exc:
            log.exception("a dashboards page failed to build", extra={"action": "page_failed"})
            return pn.pane.Alert(
                f"This page could not be drawn: {type(exc).__name__}: {exc}. The dashboards' "
                "log has the details; reload to try again.",
                alert_type="danger",
                css_classes=["phoenix-error"],
            )

    page.__name__ = getattr(build, "__name__", "page")
    return page


@dataclass(frozen=True)
class Visit:
    """One browser session's page: the login's client, its browser, what to do when the API
    refuses the token."""

    client: DashboardClient
    browser: BrowserActions
    ended: Callable[[str], None]


def _cookie() -> str | None:
    cookies = pn.state.cookies or {}
    value = cookies.get(SESSION_COOKIE)
    return str(value) if value else None


def _argument(name: str) -> str:
    values = (pn.state.session_args or {}).get(name) or [b""]
    value = values[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _arguments(name: str) -> list[str]:
    values = (pn.state.session_args or {}).get(name) or []
    return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in values]


def serve(
    api_url: str,
    *,
    address: str,
    port: int,
    websocket_origins: list[str],
    listening: Callable[[], None] = lambda: None,
    **kwargs: Any,
) -> None:
    """Serve the dashboards on their own until interrupted (Panel's Tornado server);
    ``listening`` is called once the port is bound, before the first request is served."""
    dashboards = Dashboards(api_url)
    server = pn.serve(
        dashboards.routes(),
        address=address,
        port=port,
        websocket_origin=websocket_origins,
        title=dashboards.titles(),
        show=False,
        start=False,
        **kwargs,
    )
    listening()  # Bokeh's server binds its sockets when it is made: a browser may connect
    server.start()
    server.io_loop.start()


def mount(app: FastAPI, api_url: str, prefix: str) -> Dashboards:
    """Serve the dashboards under ``prefix`` of ``app`` (Panel's FastAPI integration)."""
    from panel.io.fastapi import add_applications
    from starlette.routing import Mount

    dashboards = Dashboards(api_url, root=prefix)
    add_applications(dashboards.routes(), app=app, prefix=prefix, title=dashboards.titles())
    # bokeh-fastapi mounts Bokeh's and the extensions' static files at /static while the pages
    # ask for them under the prefix: move them there (and out of the API's own paths).
    routes = app.router.routes
    for index, route in enumerate(routes):
        if isinstance(route, Mount) and route.path.startswith("/static"):
            routes[index] = Mount(prefix + route.path, app=route.app, name=route.name)
    return dashboards
