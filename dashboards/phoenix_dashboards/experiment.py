"""The Experiment detail page (``experiment?id=…``): the record in words, the verdict and its
reasons, a scorecard per candidate, the KPI time series of every variant (downsampled, their
zoom linked), the host balance, the query guardrail's findings, the cost under a chosen price
book, the events, and the start, stop and re-analyse buttons of an operator.

One read (in a thread, as every page's) asks the API for all of it; the page's periodic
refresh keeps a running experiment live. The KPI samples (the one large answer) are read again
only when the analysis changed (its ``computed_at``). Each section has its own state: an
experiment not analysed yet (409) is said in words as an empty section, not an error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import panel as pn
import param

from phoenix_core.auth import Unauthenticated
from phoenix_core.errors import Conflict, NotFound, PhoenixError
from phoenix_dashboards.detail_plots import scorecard_plot
from phoenix_dashboards.detail_tables import (
    actions,
    cost_caption,
    cost_table,
    events_table,
    guardrail_summary,
    guardrail_table,
    host_balance_table,
    kpi_samples,
    kpi_series,
    kpi_units,
    scorecard,
    verdict_words,
)
from phoenix_dashboards.experiment_tables import experiment_overview, variants_table
from phoenix_dashboards.formatting import parse_time, timestamp
from phoenix_dashboards.kpi_plots import KpiPlots
from phoenix_dashboards.page import LivePage, data_table, number_format
from phoenix_dashboards.states import DataState
from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = ["ExperimentPage", "Section", "Snapshot"]

SERIES_HELP = (
    "Drag across a plot to zoom into a time range: every plot follows, and shows the samples "
    "of that range. Double-click for the whole window again; hover for a sample's value. The "
    "first plot's toolbar pans, zooms with the wheel, resets and saves a PNG."
)
SECTIONS = ("verdict", "scorecard", "series", "balance", "guardrail", "cost", "events")


@dataclass(frozen=True)
class Section:
    """One section's answer, or why it has none: ``phase`` empty (e.g. not analysed yet) or
    error, and ``message`` in words."""

    value: Any = None
    phase: str = "ready"
    message: str = ""


@dataclass
class Snapshot:
    """Everything one read gathered."""

    record: dict[str, Any]
    may: list[str]
    sections: dict[str, Section] = field(default_factory=dict)
    price_books: list[str] = field(default_factory=list)


def _attempt(
    call: Callable[[], Any], empty: Callable[[Any], str | None] = lambda v: None
) -> Section:
    """``call``'s answer as a section: 409 (not analysed yet) is empty, any other error says
    why; ``empty`` says when an answer has nothing to show. A refused token ends the read."""
    try:
        value = call()
    except Unauthenticated:
        raise
    except Conflict as exc:
        return Section(phase="empty", message=f"Not analysed yet: {exc}")
    except PhoenixError as exc:
        return Section(phase="error", message=str(exc))
    said = empty(value)
    return Section(value, "empty", said) if said else Section(value)


class ExperimentPage(LivePage):
    """One experiment, read from ``GET /api/v1/experiments/{id}`` and its analysis routes."""

    title = "Experiment"
    refresh_seconds = param.Integer(default=10, bounds=(2, 3600), label="Every (s)")
    experiment_id = param.String(default="", doc="The experiment shown (the page's ?id=).")
    record = param.Dict(default={}, doc="Its record as the API last answered.")
    verdict = param.Dict(default={}, doc="Its ``…/verdict`` ({} until analysed).")
    samples = param.DataFrame(
        default=kpi_samples({}), doc="Every host's raw KPI samples (``…/kpis?samples=true``)."
    )
    window = param.String(default="", doc="The analysis' measurement window, in words.")
    kpis = param.Dict(default={}, doc="Its ``…/kpis`` without samples.")
    guardrail = param.Dict(default={}, doc="Its ``…/guardrail``.")
    cost = param.Dict(default={}, doc="Its ``…/cost`` under ``price_book`` on ``fleet_hosts``.")
    events = param.List(default=[], doc="Its ``…/events``, oldest first.")
    per_host = param.Boolean(
        default=False, label="Series per host", doc="Plot each host's series, not the medians."
    )
    price_book: param.Selector[str | None] = param.Selector(
        default=None,
        objects=[],
        allow_None=True,
        label="Price book",
        doc="The price book the cost is priced under (None: the API's default).",
    )
    fleet_hosts = param.Integer(
        default=100,
        bounds=(1, 10_000_000),
        label="Fleet size (hosts)",
        doc="The hosts the cost is projected on.",
    )
    notice = param.String(default="", doc="What the last button pressed did, or why it failed.")

    def __init__(self, *args: Any, **params: Any) -> None:
        self._drawing = False
        self._computed_at: str | None = None
        self._kpis_answer: dict[str, Any] | None = None
        super().__init__(*args, **params)

    # --- the layout, built once ----------------------------------------------------------

    def content(self) -> pn.viewable.Viewable:
        self._buttons = {
            "start": pn.widgets.Button(
                label="Start", color="success", visible=False, css_classes=["phoenix-start"]
            ),
            "stop": pn.widgets.Button(
                label="Stop", color="danger", visible=False, css_classes=["phoenix-stop"]
            ),
            "analyse": pn.widgets.Button(
                label="Re-analyse",
                color="primary",
                visible=False,
                css_classes=["phoenix-analyse"],
            ),
        }
        for button in self._buttons.values():
            button.on_click(self._pressed)
        self._notice = pn.pane.Alert(
            "", alert_type="info", visible=False, css_classes=["phoenix-notice"]
        )
        card = pn.bind(scorecard, self.param.verdict)
        self._scorecards = pn.Column(sizing_mode="stretch_width")
        self._series = pn.GridBox(
            ncols=2, css_classes=["phoenix-series"], sizing_mode="stretch_width"
        )
        self.sections = {
            "verdict": DataState(
                pn.pane.Markdown(
                    pn.bind(verdict_words_or_none, self.param.verdict),
                    css_classes=["phoenix-verdict"],
                )
            ),
            "scorecard": DataState(
                pn.Column(
                    self._scorecards,
                    pn.pane.Markdown("Open a row (▸) for the query behind its number."),
                    data_table(
                        card,
                        "phoenix-scorecard",
                        formatters={
                            c: number_format(2) for c in ("change", "low", "high", "threshold")
                        }
                        | {"p_value": number_format(4)},
                        hidden_columns=["query"],
                        row_content=_query_of,
                        titles={
                            "change": "change (%)",
                            "low": "95 % low",
                            "high": "95 % high",
                            "threshold": "gate (%)",
                            "p_value": "p",
                        },
                    ),
                    sizing_mode="stretch_width",
                )
            ),
            "series": DataState(pn.Column()),  # (the plots are never hidden: see below)
            "balance": DataState(
                data_table(
                    pn.bind(host_balance_table, self.param.kpis),
                    "phoenix-balance",
                    formatters={"value": number_format(1)},
                )
            ),
            "guardrail": DataState(
                pn.Column(
                    pn.pane.Markdown(
                        pn.bind(guardrail_summary, self.param.guardrail),
                        css_classes=["phoenix-guardrail-summary"],
                    ),
                    data_table(
                        pn.bind(guardrail_table, self.param.guardrail),
                        "phoenix-guardrail",
                        widths={"finding": 320, "scoped_query": 420},
                    ),
                    sizing_mode="stretch_width",
                )
            ),
            "cost": DataState(
                pn.Column(
                    pn.pane.Markdown(
                        pn.bind(cost_caption, self.param.cost), css_classes=["phoenix-cost-caption"]
                    ),
                    data_table(
                        pn.bind(cost_table, self.param.cost),
                        "phoenix-cost",
                        formatters={
                            c: number_format(2)
                            for c in (
                                "monthly",
                                "monthly_low",
                                "monthly_high",
                                "yearly",
                                "savings_monthly",
                                "savings_low",
                                "savings_high",
                                "savings_yearly",
                            )
                        },
                    ),
                    sizing_mode="stretch_width",
                )
            ),
            "events": DataState(
                data_table(
                    pn.bind(events_table, self.param.events),
                    "phoenix-events",
                    widths={"summary": 600},
                    pagination="local",
                    page_size=15,
                )
            ),
        }
        titles = {
            "verdict": "Verdict",
            "scorecard": "Scorecard",
            "series": "KPI time series",
            "balance": "Host balance",
            "guardrail": "Query guardrail",
            "cost": "Cost",
            "events": "Events",
        }
        body: list[Any] = [
            pn.pane.Markdown(
                pn.bind(experiment_overview, self.param.record), css_classes=["phoenix-experiment"]
            ),
            pn.Row(*self._buttons.values()),
            self._notice,
            data_table(pn.bind(variants_table, self.param.record), "phoenix-variants"),
        ]
        for name in SECTIONS:
            body += [pn.pane.Markdown(f"## {titles[name]}"), self.sections[name]]
            if name == "series":  # Bokeh lays out a plot drawn hidden at no size: never hidden
                body += [pn.pane.Markdown(SERIES_HELP, styles={"color": "#555"}), self._series]
        return pn.Column(*body, sizing_mode="stretch_width")

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            pn.widgets.Checkbox.from_param(self.param.per_host),
            pn.widgets.Select.from_param(self.param.price_book, width=WIDGET_WIDTH),
            pn.widgets.IntInput.from_param(self.param.fleet_hosts, width=WIDGET_WIDTH),
        ]

    # --- reading ---------------------------------------------------------------------------

    def read(self) -> Snapshot:
        try:
            uuid.UUID(self.experiment_id)
        except ValueError:
            raise PhoenixError(
                f"'{self.experiment_id}' is not an experiment id: open one from the list."
            ) from None
        ident, client = self.experiment_id, self.client
        try:
            record = client.experiment(ident)
        except NotFound:
            raise PhoenixError(f"There is no experiment {ident}.") from None
        may = list(client.whoami().get("may", []))
        out = Snapshot(record, may)
        s = out.sections
        s["events"] = _attempt(
            lambda: client.events(ident), lambda v: None if v else "No events yet."
        )
        s["verdict"] = _attempt(lambda: client.verdict(ident))
        s["scorecard"] = s["verdict"]
        computed_at = (s["verdict"].value or {}).get("computed_at")
        if computed_at is not None and computed_at == self._computed_at and self._kpis_answer:
            s["series"] = Section(self._kpis_answer)  # the same analysis: its samples as read
        else:
            s["series"] = _attempt(lambda: client.kpis(ident, samples=True))
        s["balance"] = s["series"]
        s["guardrail"] = _attempt(
            lambda: client.guardrail(ident),
            lambda v: None if v.get("judged", True) else guardrail_summary(v),
        )
        books = _attempt(client.price_books)
        out.price_books = [b["name"] for b in books.value or []]
        book = self.price_book if self.price_book in out.price_books else None
        s["cost"] = _attempt(
            lambda: client.cost(ident, fleet_hosts=self.fleet_hosts, price_book=book)
        )
        return out

    # --- drawing ---------------------------------------------------------------------------

    def draw(self, data: Snapshot) -> None:
        self.state.ready()  # first: Bokeh lays out a plot drawn while hidden at no size
        self._drawing = True
        try:
            self._draw(data)
        finally:
            self._drawing = False

    def _draw(self, data: Snapshot) -> None:  # noqa: PLR0912 - one branch per section
        s = data.sections
        for name, section in s.items():  # shown first: a table filled while hidden shows no row
            self._state(name, section)
        if data.record != self.record:
            self.record = data.record
        shown = actions(data.may, data.record["state"])
        for name, button in self._buttons.items():
            button.visible = shown.shown
            button.disabled = not getattr(shown, name)
        verdict = s["verdict"].value or {}
        if verdict != self.verdict:
            self.verdict = verdict
            self._scorecards.objects = _scorecard_panes(scorecard(verdict))
        kpis = s["series"].value
        if kpis is not None and kpis is not self._kpis_answer:
            self._kpis_answer = kpis
            self._computed_at = verdict.get("computed_at")
            self.window = _window(kpis)
            self.kpis = {k: v for k, v in kpis.items() if k != "kpis"} | {
                "kpis": [r for r in kpis["kpis"] if r["kpi"] == "host_balance"]
            }
            self.samples = kpi_samples(kpis)
            self._draw_series_next()
        if s["guardrail"].value is not None and s["guardrail"].value != self.guardrail:
            self.guardrail = s["guardrail"].value
        if data.price_books != list(self.param.price_book.objects or []):
            self.param.price_book.objects = data.price_books
        cost = s["cost"].value
        if cost is not None:
            if self.price_book is None:
                self.price_book = cost["price_book"]
            if cost != self.cost:
                self.cost = cost
        events = s["events"].value
        if events is not None and events != self.events:
            self.events = events
        if s["series"].phase == "ready" and self.samples.empty:
            self.sections["series"].empty("The analysis kept no samples to plot.")
        if s["balance"].phase == "ready" and not self.kpis.get("kpis"):
            self.sections["balance"].empty("The analysis has no host_balance rows.")
        if s["verdict"].phase == "ready" and scorecard(verdict).empty:
            self.sections["scorecard"].empty("The verdict compared no KPI.")

    def _state(self, name: str, section: Section) -> None:
        state = self.sections[name]
        if section.phase == "ready":
            state.ready()
        elif section.phase == "empty":
            state.empty(section.message)
        else:
            state.error(section.message)

    def _draw_series_next(self) -> None:
        """Draw the KPI plots once the rest of this drawing is in the browser (served: the
        next tick), so that the browser lays out the sections while the server builds them."""
        document = pn.state.curdoc
        if self._callback is not None and document is not None and document.session_context:
            document.add_next_tick_callback(self._draw_series)
        else:
            self._draw_series()

    @param.depends("per_host", watch=True)
    def _draw_series(self) -> None:
        series = kpi_series(self.samples, per_host=self.per_host)
        self._kpi_plots = KpiPlots(series, kpi_units(self.samples), self.window)
        # New panes each time, each plot sized by the page: a fixed-size plot given to a pane
        # already on the page drew at no size (a frame of 0 pixels) in Chromium.
        self._series.objects = [
            pn.pane.Bokeh(plot, sizing_mode="stretch_width")
            for plot in self._kpi_plots.plots.values()
        ]

    @param.depends("price_book", "fleet_hosts", watch=True)
    def _reprice(self) -> None:
        if not self._drawing:
            self.sections["cost"].loading("Pricing…")
            self.refresh_soon()

    # --- the buttons -----------------------------------------------------------------------

    async def _pressed(self, event: param.parameterized.Event) -> None:
        action = next(name for name, b in self._buttons.items() if b is event.obj)
        await self._act(action)

    async def _act(self, action: str) -> None:
        ident, client = self.experiment_id, self.client
        calls = {
            "start": client.start_experiment,
            "stop": client.stop_experiment,
            "analyse": client.analyse,
        }
        for button in self._buttons.values():
            button.disabled = True
        try:
            answer = await asyncio.to_thread(calls[action], ident)
        except Unauthenticated as exc:
            self._say(f"The API no longer accepts your token: {exc}", "danger")
            self._on_unauthenticated(str(exc))
            return
        except PhoenixError as exc:
            self._say(f"Could not {action}: {exc}", "danger")
        else:
            self._say(_done(action, answer), "success")
        await self.refresh()

    def _say(self, text: str, kind: str) -> None:
        self.notice = text
        self._notice.param.update(object=text, alert_type=kind, visible=True)


def verdict_words_or_none(verdict: dict[str, Any]) -> str:
    """The verdict in words, or nothing before there is one."""
    return verdict_words(verdict) if verdict else ""


def _done(action: str, answer: dict[str, Any]) -> str:
    if action == "analyse":
        winner = answer.get("winner")
        return (
            f"Re-analysed at {timestamp(parse_time(answer['computed_at']))}: verdict "
            f"{answer['outcome']}" + (f", winner {winner}." if winner else ", no winner.")
        )
    verb = "Started" if action == "start" else "Stopping"
    return f"{verb}: the experiment is now {answer['state']}."


def _window(kpis: dict[str, Any]) -> str:
    start, end = parse_time(kpis.get("window_start")), parse_time(kpis.get("window_end"))
    if start is None or end is None:
        return ""
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


def _query_of(row: pd.Series) -> pn.viewable.Viewable:
    return pn.pane.Markdown(
        f"**{row['kpi']}** of {row['candidate']} was measured by:\n\n```\n{row['query']}\n```",
        css_classes=["phoenix-query"],
    )


def _scorecard_panes(card: pd.DataFrame) -> list[pn.viewable.Viewable]:
    return [
        pn.pane.HoloViews(
            scorecard_plot(card, candidate),
            linked_axes=False,  # (its axes are its own, not the KPI plots')
            sizing_mode="stretch_width",
            css_classes=["phoenix-scorecard-plot"],
        )
        for candidate in card["candidate"].unique()
    ]
