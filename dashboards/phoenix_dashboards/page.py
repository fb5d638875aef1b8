"""What every page shares: its data read in one place, refreshed by one periodic callback.

A page's ``read`` reads the API (through the login's cached client) in a worker thread, so
that the server's event loop, which in the API process also serves the API the page calls,
never waits on it; ``draw`` then puts the answer on the page, on the loop. A token the API
refuses ends the login (``on_unauthenticated``); any other error is the page's error state,
in the client's words (an unreachable API is named with its URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from phoenix_core.auth import Unauthenticated
from phoenix_core.errors import PhoenixError
from phoenix_dashboards.data import DashboardClient
from phoenix_dashboards.formatting import timestamp
from phoenix_dashboards.states import DataState

__all__ = ["MISSING", "LivePage", "data_table", "number_format"]

log = logging.getLogger(__name__)

MISSING = "–"
"""What a table shows where the API gave no figure (never 0)."""


class LivePage(pn.viewable.Viewer):
    """A page over the API: ``read`` (in a thread) then ``draw`` (on the loop), at load and
    then every ``refresh_seconds`` while ``running``."""

    title = "Phoenix"
    running = param.Boolean(
        default=True, label="Refresh automatically", doc="Read the API again periodically."
    )
    refresh_seconds = param.Integer(
        default=15, bounds=(2, 3600), label="Every (s)", doc="Seconds between refreshes."
    )
    last_refreshed = param.String(
        default="never", constant=True, doc="When the page last read the API (UTC)."
    )

    def __init__(
        self,
        client: DashboardClient,
        on_unauthenticated: Callable[[str], None] = lambda reason: None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.client = client
        self._on_unauthenticated = on_unauthenticated
        self._callback: Any = None
        self._prefetch: asyncio.Future[Any] | None = None
        self._busy = False
        self._again = False
        self.state = DataState(self.content())

    # --- what each page defines ------------------------------------------------------------

    def content(self) -> pn.viewable.Viewable:
        """The page's content, built once (``draw`` updates it)."""
        raise NotImplementedError

    def read(self) -> Any:
        """Read what the page shows (in a worker thread: blocking calls are fine)."""
        raise NotImplementedError

    def draw(self, data: Any) -> None:
        """Put ``data`` on the page, and set the state (``ready`` or ``empty``)."""
        raise NotImplementedError

    def controls(self) -> list[pn.viewable.Viewable]:
        """The page's own widgets, for the sidebar (after the refresh controls)."""
        return []

    # --- the shared machinery ------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the API and show the answer. Asked while a read is under way (a filter changed
        meanwhile), it reads once more when that one is drawn: one read at a time."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            while True:
                self._again = False
                await self._read_and_draw()
                if not self._again:
                    return
        finally:
            self._busy = False

    async def _read_and_draw(self) -> None:
        prefetched, self._prefetch = self._prefetch, None
        try:
            data = await (prefetched or asyncio.to_thread(self.read))
        except Unauthenticated as exc:
            self.state.error(f"The API no longer accepts your token: {exc}")
            self._on_unauthenticated(str(exc))
            self.running = False
        except PhoenixError as exc:
            self.state.error(str(exc))
        except Exception as exc:  # a bug: said on the page, logged in full, the page lives on
            log.exception("the %s page failed to read the API", self.title)
            self.state.error(f"The page failed: {exc.__class__.__name__}: {exc}")
        else:
            self.draw(data)
            with param.edit_constant(self):
                self.last_refreshed = timestamp(datetime.now(UTC))

    def refresh_soon(self) -> None:
        """Read again as soon as the loop is free, once started (unstarted, as in unit tests,
        the caller awaits ``refresh`` itself)."""
        if self._callback is not None:
            pn.state.execute(self.refresh)

    def start(self) -> None:
        """Once served: the first read starts now, in a thread, while the browser loads the
        page; it is drawn once the page has loaded; then the periodic reads."""
        self._prefetch = asyncio.get_running_loop().run_in_executor(None, self.read)
        pn.state.onload(self.refresh)
        self._callback = pn.state.add_periodic_callback(
            self.refresh,  # type: ignore[arg-type]  # (Panel awaits a coroutine function too)
            period=self.refresh_seconds * 1000,
            start=self.running,
        )

    @param.depends("running", "refresh_seconds", watch=True)
    def _reschedule(self) -> None:
        if self._callback is None:
            return
        self._callback.period = self.refresh_seconds * 1000
        if self.running and not self._callback.running:
            self._callback.start()
        elif not self.running and self._callback.running:
            self._callback.stop()

    def refresh_controls(self) -> list[pn.viewable.Viewable]:
        return [
            pn.widgets.Checkbox.from_param(self.param.running),
            pn.widgets.IntInput.from_param(self.param.refresh_seconds, width=120),
            pn.pane.Markdown(
                pn.bind(_last_read, self.param.last_refreshed),
                css_classes=["phoenix-last-refreshed"],
            ),
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        return self.state.__panel__()


def data_table(
    value: Any,
    css_class: str,
    row_style: Callable[[pd.Series], list[str]] | None = None,
    **options: Any,
) -> pn.widgets.Tabulator:
    """A read-only table of the API's data, as every page draws one: sized to its data, in
    the page's width; each row styled by ``row_style`` (CSS per cell), whatever its value;
    ``css_class`` names it for the browser tests."""
    table = pn.widgets.Tabulator(
        value,
        show_index=False,
        disabled=True,
        selectable=False,
        layout="fit_data_table",
        sizing_mode="stretch_width",
        css_classes=[css_class],
        stylesheets=[_TABLE_CSS],
        **options,
    )
    if row_style is not None:
        style = table.style
        assert style is not None  # (a Tabulator always has one)
        style.apply(row_style, axis=1)
    return table


_TABLE_CSS = (
    ".tabulator, .tabulator .tabulator-cell, .tabulator .tabulator-col-title { font-size: 13px; }"
)


def number_format(decimals: int) -> NumberFormatter:
    """A table column's numbers: thousands separated, ``decimals`` places, ``MISSING`` for none."""
    pattern = "0,0" + ("." + "0" * decimals if decimals else "")
    return NumberFormatter(format=pattern, nan_format=MISSING, null_format=MISSING)


def _last_read(at: str) -> str:
    return f"Last read: {at}"
