"""The Cardinality explorer: for a selector over a window, the top metrics and labels by series
(``GET /api/v1/cardinality``), each top metric's usage (``GET /api/v1/usage``), and the
reductions recommended with their forecast savings, and those refused
(``GET /api/v1/recommendations``); an operator creates a draft experiment from a
recommendation (``POST /api/v1/recommendations/{id}/experiment``) and follows its link."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import panel as pn
import param

from phoenix_core.auth import Unauthenticated
from phoenix_core.client import ApiUnavailable
from phoenix_core.errors import PhoenixError
from phoenix_core.wire.tasks import CollectorKind
from phoenix_dashboards.cardinality_tables import (
    USAGE_COLUMNS,
    inventory_summary,
    labels_table,
    metrics_table,
    parse_host_selector,
    parse_hosts,
    recommendations_table,
    refusals_table,
    top_chart,
    usage_row,
    window,
)
from phoenix_dashboards.controls import (
    DEFAULT_BOOK,
    book_options,
    fleet_slider,
    follow,
    price_book_select,
)
from phoenix_dashboards.cost_tables import price_book_names
from phoenix_dashboards.data import DashboardClient
from phoenix_dashboards.page import LivePage, data_table, number_format
from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = ["CardinalityPage", "CardinalityReading"]

INVENTORY_ROWS = 1_000
"""Rows of the inventory read (the usage table needs each top metric's labels); ``limit`` of
them are shown."""
USAGE_THREADS = 8
WRAPPED = {"title": {"type": "textarea"}, "usage": {"type": "textarea"},
           "protects": {"type": "textarea"}, "reason": {"type": "textarea"}}  # fmt: skip
"""Columns of sentences: wrapped in their cell, not cut."""
NO_SERIES = (
    "No series matches this selector in this window: widen the window, or check that the "
    "receiving Prometheus stores series (`phoenix cardinality` says the same)."
)


@dataclass(frozen=True)
class CardinalityReading:
    """What one refresh read: the inventory, the top metrics' usage, the recommendations (or
    why not), the price books and the caller's roles."""

    inventory: dict[str, Any]
    usage: pd.DataFrame
    recommendations: dict[str, Any]
    refused: str
    """Why the API gave no recommendations ('' when it gave them)."""
    books: list[str]
    may: list[str]


class CardinalityPage(LivePage):
    """The inventory, usage and recommendations of ``selector`` over the last
    ``window_minutes``, read again when an input changes (and every ``refresh_seconds``)."""

    title = "Cardinality"
    refresh_seconds = param.Integer(default=300, bounds=(2, 3600), label="Every (s)")
    selector = param.String(default="", label="Selector", doc="PromQL series selector; '': all.")
    window_minutes = param.Number(
        default=60, bounds=(1, 60 * 24 * 31), label="Window (min, ending now)",
        doc="The window's length; it ends when the page reads.",
    )  # fmt: skip
    limit = param.Integer(default=20, bounds=(1, 500), label="Rows", doc="Rows of each table.")
    collector: param.Selector[str] = param.Selector(
        default=CollectorKind.PROMETHEUS_AGENT.value, objects=[c.value for c in CollectorKind],
        label="Collector", doc="The collector the recommended pipelines would run on.",
    )  # fmt: skip
    price_book = param.String(default=DEFAULT_BOOK, doc="The savings' price book; '': the API's.")
    fleet_hosts = param.Integer(
        default=1_000, bounds=(1, 10_000_000), label="Fleet (hosts)",
        doc="Times the series counted are billed.",
    )  # fmt: skip
    scrape_interval_seconds = param.Number(
        default=15, bounds=(1, 86_400), label="Scrape interval (s)",
        doc="Each series' interval, for samples/s.",
    )  # fmt: skip
    top_k = param.Integer(default=20, bounds=(1, 10_000), label="Top k", doc="k of top-k.")
    critical_selectors = param.String(
        default="", label="Critical selectors (one a line)",
        doc="Series selectors no recommendation may remove.",
    )  # fmt: skip
    reading = param.Parameter(default=None, doc="The last CardinalityReading drawn.")
    may_operate = param.Boolean(default=False, constant=True, doc="whoami.may has operator.")
    created = param.String(default="", doc="What the last 'create experiment' did, with a link.")

    QUERY_PARAMETERS = ("selector", "window_minutes", "collector", "price_book", "fleet_hosts",
                        "scrape_interval_seconds", "top_k")  # fmt: skip
    """The inputs a link may set in its query string (and ``critical``, repeated)."""

    @classmethod
    def inputs_from_query(cls, given: dict[str, str], critical: list[str]) -> dict[str, Any]:
        """The page's inputs from a query string's values (those empty or not valid ignored):
        a link to the page shows what its sender saw."""
        inputs: dict[str, Any] = {}
        for name, text in given.items():
            if not text:
                continue
            parameter = cls.param[name]
            try:
                value: Any = text
                if isinstance(parameter, param.Integer):
                    value = int(text)
                elif isinstance(parameter, param.Number):
                    value = float(text)
                parameter._validate(value)
            except (ValueError, TypeError):
                continue
            inputs[name] = value
        if critical:
            inputs["critical_selectors"] = "\n".join(critical)
        return inputs

    def __init__(
        self,
        client: DashboardClient,
        on_unauthenticated: Callable[[str], None] = lambda reason: None,
        experiment_url: Callable[[str], str] = lambda experiment_id: (
            f"experiment?id={experiment_id}"
        ),
        **params: Any,
    ) -> None:
        self._experiment_url = experiment_url
        self._books = price_book_select()
        super().__init__(client, on_unauthenticated, **params)
        follow(self, self._books)

    # --- the page ----------------------------------------------------------------------------

    def content(self) -> pn.viewable.Viewable:
        inventory = pn.bind(_inventory, self.param.reading)
        metrics = pn.bind(_head, pn.bind(metrics_table, inventory), self.param.limit)
        labels = pn.bind(_head, pn.bind(labels_table, inventory), self.param.limit)
        recommended = pn.bind(recommendations_table, pn.bind(_recommended, self.param.reading))
        money = number_format(2)
        self._recommendations = data_table(
            recommended, "phoenix-recommendations", hidden_columns=["id"],
            widths={"title": 260, "usage": 260, "protects": 200},
            formatters={**WRAPPED, "savings / month": money, "savings / year": money,
                        "change (%)": number_format(1), "of the bill (%)": number_format(1)},
        )  # fmt: skip
        self._choice = pn.widgets.Select(label="Recommendation", options={}, width=420,
                                         css_classes=["phoenix-recommendation-choice"])  # fmt: skip
        self._hosts = pn.widgets.TextInput(
            label="Hosts (comma separated)", placeholder="web-1, web-2", width=300,
            css_classes=["phoenix-draft-hosts"],
        )  # fmt: skip
        self._host_selector = pn.widgets.TextInput(
            label="or a host selector (key=value, …)", placeholder="env=staging", width=300,
            css_classes=["phoenix-draft-selector"],
        )  # fmt: skip
        self._create = pn.widgets.Button(
            label="Create experiment from this recommendation", color="primary",
            css_classes=["phoenix-create-experiment"],
        )  # fmt: skip
        self._create.on_click(self._create_clicked)
        self._operator = pn.Column(
            pn.pane.Markdown("### Create an experiment from a recommendation"),
            pn.pane.Markdown(
                "A draft: the baseline against the recommended pipeline on these hosts, with "
                "the recommendation's critical selectors and usage sources. Start it from its "
                "page or with `phoenix experiment start ID`.",
                styles={"color": "#555"},
            ),
            self._choice,
            pn.Row(self._hosts, self._host_selector),
            self._create,
            pn.pane.Markdown(self.param.created, css_classes=["phoenix-created"]),
            visible=False,
            sizing_mode="stretch_width",
        )
        return pn.Column(
            pn.pane.Markdown(pn.bind(_summary, inventory), css_classes=["phoenix-inventory"]),
            pn.pane.Markdown("### Top metrics by series"),
            pn.Row(
                pn.Column(data_table(metrics, "phoenix-top-metrics"), width=540),
                pn.pane.HoloViews(pn.bind(_metrics_chart, metrics), sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.pane.Markdown("### Top labels by distinct values"),
            pn.Row(
                pn.Column(data_table(labels, "phoenix-top-labels"), width=540),
                pn.pane.HoloViews(pn.bind(_labels_chart, labels), sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.pane.Markdown("### Usage of the top metrics"),
            pn.pane.Markdown(
                "Queries: how many queries of the usage sources (the latest version of each, "
                "`GET /api/v1/usage`) read the metric; labels unread: its labels in the window "
                "that no query reads and a reduction may drop.",
                styles={"color": "#555"},
            ),
            data_table(pn.bind(_usage, self.param.reading), "phoenix-usage"),
            pn.pane.Markdown("### Recommendations"),
            pn.pane.Markdown(
                pn.bind(self._recommendations_caption, self.param.reading),
                styles={"color": "#555"},
                css_classes=["phoenix-recommendations-caption"],
            ),
            self._recommendations,
            pn.pane.Markdown("#### Refused, and why"),
            data_table(
                pn.bind(refusals_table, pn.bind(_recommended, self.param.reading)),
                "phoenix-refusals",
                widths={"reason": 560},
                formatters=WRAPPED,
            ),
            self._operator,
            sizing_mode="stretch_width",
        )

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            pn.widgets.TextInput.from_param(
                self.param.selector, width=WIDGET_WIDTH, placeholder='{job="shop"}'
            ),
            pn.widgets.FloatInput.from_param(self.param.window_minutes, width=WIDGET_WIDTH),
            pn.widgets.IntInput.from_param(self.param.limit, width=WIDGET_WIDTH),
            pn.pane.Markdown("**Recommendations**"),
            pn.widgets.Select.from_param(self.param.collector, width=WIDGET_WIDTH),
            self._books,
            fleet_slider(self.param.fleet_hosts, start=1, end=100_000),
            pn.widgets.FloatInput.from_param(
                self.param.scrape_interval_seconds, width=WIDGET_WIDTH
            ),
            pn.widgets.IntInput.from_param(self.param.top_k, width=WIDGET_WIDTH),
            pn.widgets.TextAreaInput.from_param(
                self.param.critical_selectors,
                width=WIDGET_WIDTH,
                height=80,
                css_classes=["phoenix-critical"],
            ),
        ]

    @param.depends("selector", "window_minutes", "limit", "collector", "price_book",
                   "fleet_hosts", "scrape_interval_seconds", "top_k", "critical_selectors",
                   watch=True)  # fmt: skip
    def _asked(self) -> None:
        self.state.loading("Reading the series, their usage and the recommendations…")
        self.refresh_soon()

    # --- reading -----------------------------------------------------------------------------

    def read(self) -> CardinalityReading:
        start, end = window(datetime.now(UTC), self.window_minutes)
        selector = self.selector.strip() or None
        inventory = self.client.cardinality(selector, start=start, end=end, limit=INVENTORY_ROWS)
        usage = self._usage_of(inventory)
        critical = [line.strip() for line in self.critical_selectors.splitlines() if line.strip()]
        refused = ""
        try:
            recommended = self.client.recommendations(
                selector, start=start, end=end, critical_selectors=critical or None,
                collector=self.collector, price_book=self.price_book or None,
                fleet_hosts=self.fleet_hosts,
                scrape_interval_seconds=self.scrape_interval_seconds, top_k=self.top_k,
            )  # fmt: skip
        except (Unauthenticated, ApiUnavailable):
            raise
        except PhoenixError as exc:
            recommended, refused = {}, str(exc)
        books = price_book_names(self.client.price_books())
        may = [str(role) for role in self.client.whoami().get("may", [])]
        return CardinalityReading(inventory, usage, recommended, refused, books, may)

    def _usage_of(self, inventory: dict[str, Any]) -> pd.DataFrame:
        top = inventory.get("metrics", [])[: self.limit]
        labels = labels_table(inventory)

        def row(metric: dict[str, Any]) -> dict[str, Any]:
            found = self.client.usage(metric=metric["metric"]).get("metrics", [])
            named = labels[labels["metric"] == metric["metric"]]["label"]
            return usage_row(metric["metric"], metric["series"], found[0] if found else None,
                             list(named))  # fmt: skip

        with ThreadPoolExecutor(USAGE_THREADS) as pool:
            rows = list(pool.map(row, top))
        return pd.DataFrame(rows, columns=USAGE_COLUMNS)

    def draw(self, data: CardinalityReading) -> None:
        self._books.options = book_options(data.books)
        with param.edit_constant(self):
            self.may_operate = "operator" in data.may
        recommendations = data.recommendations.get("recommendations", [])
        self._choice.options = {
            f"{r['title']} (saves {r['savings']['monthly']:,.2f} {r['savings']['currency']}"
            "/month)": r["id"]
            for r in recommendations
        }
        self._operator.visible = self.may_operate and bool(recommendations)
        self.reading = data
        if data.inventory.get("total_series"):
            self.state.ready()
        else:
            self.state.empty(NO_SERIES)

    # --- creating an experiment --------------------------------------------------------------

    def draft_target(self) -> dict[str, Any]:
        """The hosts or host selector typed for the draft; ``ValueError`` says what is wrong."""
        hosts = parse_hosts(self._hosts.value or "")
        selector = parse_host_selector(self._host_selector.value or "")
        if bool(hosts) == bool(selector):
            raise ValueError("Give hosts or a host selector (one of them).")
        return {"hosts": hosts} if hosts else {"host_selector": selector}

    async def create_experiment(self) -> str | None:
        """Create the draft from the chosen recommendation; its id (None: ``created`` says
        why not)."""
        recommendation = self._choice.value
        if not recommendation:
            self.created = "Choose a recommendation first."
            return None
        try:
            target = self.draft_target()
        except ValueError as exc:
            self.created = f"**Not created:** {exc}"
            return None
        self._create.disabled = True
        try:
            draft = await asyncio.to_thread(
                self.client.experiment_from_recommendation, recommendation, **target
            )
        except Unauthenticated as exc:
            self._on_unauthenticated(str(exc))
            return None
        except PhoenixError as exc:
            self.created = f"**Not created:** {exc}"
            return None
        finally:
            self._create.disabled = False
        experiment_id = str(draft["id"])
        link = self._experiment_url(experiment_id)
        self.created = f"Created the draft experiment [{experiment_id}]({link})."
        return experiment_id

    async def _create_clicked(self, event: Any) -> None:
        await self.create_experiment()

    def _recommendations_caption(self, reading: CardinalityReading | None) -> str:
        if reading is None:
            return ""
        if reading.refused:
            return f"**The API gave no recommendations:** {reading.refused}"
        answer = reading.recommendations
        sources = ", ".join(answer.get("usage_sources", [])) or "no usage source"
        return (
            f"Ranked by forecast savings under price book **{answer.get('price_book', '')}** on "
            f"**{answer.get('fleet_hosts', self.fleet_hosts):,} hosts** at one sample every "
            f"{self.scrape_interval_seconds:g} s, for {answer.get('collector', self.collector)}; "
            f"usage from {sources}. Savings: per month and year, in the book's currency."
        )


def _inventory(reading: CardinalityReading | None) -> dict[str, Any]:
    return reading.inventory if reading is not None else {}


def _recommended(reading: CardinalityReading | None) -> dict[str, Any]:
    return reading.recommendations if reading is not None else {}


def _usage(reading: CardinalityReading | None) -> pd.DataFrame:
    return reading.usage if reading is not None else pd.DataFrame(columns=USAGE_COLUMNS)


def _head(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.head(rows)


def _summary(inventory: dict[str, Any]) -> str:
    return inventory_summary(inventory) if inventory else ""


def _metrics_chart(metrics: pd.DataFrame) -> Any:
    return None if metrics.empty else top_chart(metrics, "metric", "series", "Series per metric")


def _labels_chart(labels: pd.DataFrame) -> Any:
    if labels.empty:
        return None
    bars = labels.assign(bar=labels["metric"] + " · " + labels["label"])
    return top_chart(bars, "bar", "values", "Distinct values per metric · label")
