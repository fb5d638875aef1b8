"""The one template every page is drawn in (Panel's ``BootstrapTemplate``): the title, the
links between pages, the page's own controls in the sidebar, where the data comes from.

Bootstrap rather than panel-material-ui's ``Page``: a page of 20 rows is drawn in ~0.6 s in
it against ~0.9 s in ``Page`` (and ~0.75 s in ``FastListTemplate``) on this machine, before
any data is read; the Experiments page's first page must be drawn in under 1 s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import panel as pn

__all__ = ["PAGES", "WIDGET_WIDTH", "Site", "site_page"]

PAGES = {
    "fleet": "Fleet",
    "experiments": "Experiments",
    "compare": "Compare",
    "cost": "Cost",
    "cardinality": "Cardinality",
}
"""The pages the sidebar links to, by route (the experiment page opens from the list)."""
WIDGET_WIDTH = 260
"""The width of a text or number input in the sidebar."""


@dataclass(frozen=True)
class Site:
    """Where the dashboards are served: ``root`` is '' standalone, '/dashboards' mounted."""

    root: str
    api_url: str

    def url(self, route: str, **query: str) -> str:
        """The absolute path of a page, with its query."""
        path = f"{self.root}/{route}"
        return f"{path}?{urlencode(query)}" if query else path

    @property
    def cookie_path(self) -> str:
        return self.root or "/"


def site_page(
    site: Site,
    title: str,
    main: Sequence[pn.viewable.Viewable | pn.viewable.Viewer],
    controls: Sequence[pn.viewable.Viewable] = (),
    log_out: Callable[[], None] | None = None,
) -> pn.template.BootstrapTemplate:
    """A page of the dashboards: ``main`` in the body; the links, ``controls`` and the log-out
    button in the sidebar."""
    links = " · ".join(f"[{name}]({site.url(route)})" for route, name in PAGES.items())
    sidebar: list[pn.viewable.Viewable] = [
        pn.pane.Markdown(links, css_classes=["phoenix-nav"]),
        *controls,
    ]
    if log_out is not None:
        button = pn.widgets.Button(
            label="Log out", variant="outline", css_classes=["phoenix-logout"]
        )
        button.on_click(lambda event: log_out())
        sidebar.append(button)
    sidebar.append(
        pn.pane.Markdown(f"Data: the Phoenix API at `{site.api_url}`", styles={"color": "#555"})
    )
    # One root per area: the template adds each item of a list as a root of the document,
    # and each root added walks every model again (~0.15 s of a page's 0.25 s to build).
    return pn.template.BootstrapTemplate(
        title=f"Phoenix · {title}",
        main=[pn.Column(*main, sizing_mode="stretch_width")],
        sidebar=[pn.Column(*sidebar, sizing_mode="stretch_width")],
        sidebar_width=300,
        site_url=site.url("fleet"),
    )
