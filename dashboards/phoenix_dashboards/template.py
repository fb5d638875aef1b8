"""The one template every page is drawn in (panel-material-ui's ``Page``): the title, the
links between pages, the page's own controls in the sidebar, where the data comes from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import panel as pn
import panel_material_ui as pmui
from panel_material_ui.template.base import Page

__all__ = ["PAGES", "WIDGET_WIDTH", "Site", "site_page"]

PAGES = {"fleet": "Fleet", "experiments": "Experiments"}
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
) -> Page:
    """A page of the dashboards: ``main`` in the body; the links, ``controls`` and the log-out
    button in the sidebar."""
    links = " · ".join(f"[{name}]({site.url(route)})" for route, name in PAGES.items())
    sidebar: list[pn.viewable.Viewable] = [
        pn.pane.Markdown(links, css_classes=["phoenix-nav"]),
        *controls,
    ]
    if log_out is not None:
        button = pmui.Button(label="Log out", variant="outlined", css_classes=["phoenix-logout"])
        button.on_click(lambda event: log_out())
        sidebar.append(button)
    sidebar.append(
        pn.pane.Markdown(f"Data: the Phoenix API at `{site.api_url}`", styles={"color": "#555"})
    )
    return Page(
        title=f"Phoenix · {title}",
        main=list(main),
        sidebar=sidebar,
        sidebar_width=300,
        site_url=site.url("fleet"),
        theme_toggle=False,
    )
