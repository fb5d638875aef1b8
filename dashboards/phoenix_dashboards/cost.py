"""The Cost page: under a chosen price book, on a chosen fleet and scrape interval, each chosen
analysed experiment's projected monthly and yearly cost per variant and its candidates'
savings with their intervals (``GET …/{id}/cost``), in a table and a bar chart with whiskers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn
import param

from phoenix_core.auth import Unauthenticated
from phoenix_core.client import ApiUnavailable
from phoenix_core.errors import PhoenixError
from phoenix_dashboards.controls import (
    DEFAULT_BOOK,
    book_options,
    experiment_chooser,
    fleet_slider,
    follow,
    price_book_select,
)
from phoenix_dashboards.cost_tables import (
    analysed,
    cost_chart,
    cost_table,
    experiment_label,
    price_book_names,
)
from phoenix_dashboards.data import DashboardClient
from phoenix_dashboards.page import LivePage, data_table, number_format
from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = ["CostPage", "CostReading", "read_analysed"]

TITLES = {"monthly": "cost / month", "monthly low": "low", "monthly high": "high",
          "yearly": "cost / year", "savings / month": "saved / month", "savings low": "low",
          "savings high": "high", "savings / year": "saved / year"}  # fmt: skip
"""The columns' titles (each interval's bounds after their figure; the currency: the caption's)."""
ANALYSED_LIMIT = 200
"""The newest experiments looked at for analysed ones (one page of the API's list)."""
SHOWN_BY_DEFAULT = 3
"""Experiments shown before any is chosen: the newest analysed ones."""
NO_ANALYSED = (
    "No experiment is analysed yet: an experiment has a cost once it completes with a verdict "
    "(`phoenix experiment start ID`, then wait for its analysis)."
)


def read_analysed(client: DashboardClient) -> list[Mapping[str, Any]]:
    """The newest analysed experiments (``GET /api/v1/experiments``, one page of
    ``ANALYSED_LIMIT``), newest first."""
    page = client.experiments_page(limit=ANALYSED_LIMIT)
    return analysed(page["items"])


def experiment_options(summaries: list[Mapping[str, Any]]) -> dict[str, str]:
    """The experiments' multi-select options: label → id."""
    return {experiment_label(s): str(s["id"]) for s in summaries}


def chosen_ids(chosen: list[str], summaries: list[Mapping[str, Any]], default: int) -> list[str]:
    """The ids to show: those chosen that are analysed, else the ``default`` newest."""
    known = [str(s["id"]) for s in summaries]
    kept = [i for i in chosen if i in known]
    return kept if kept else known[:default]


@dataclass(frozen=True)
class CostReading:
    """What one refresh read: the analysed experiments, the price books, the costs by id."""

    experiments: list[Mapping[str, Any]]
    books: list[str]
    costs: dict[str, dict[str, Any]]
    problems: list[str]


class CostPage(LivePage):
    """Projected cost and savings of the chosen analysed experiments, read again when a
    parameter changes (and every ``refresh_seconds``)."""

    title = "Cost"
    refresh_seconds = param.Integer(default=60, bounds=(2, 3600), label="Every (s)")
    price_book = param.String(
        default=DEFAULT_BOOK, doc="The price book's name (GET /api/v1/price-books); '': the API's."
    )
    fleet_hosts = param.Integer(
        default=1_000, bounds=(1, 100_000), label="Fleet (hosts)",
        doc="The hosts the cost is projected on.",
    )  # fmt: skip
    scrape_interval_seconds = param.Number(
        default=0, bounds=(0, 3600), label="Scrape interval (s, 0: the experiment's)",
        doc="The interval the cost is projected at; 0: each experiment's own.",
    )  # fmt: skip
    experiments = param.List(default=[], doc="The ids chosen; none: the newest analysed ones.")
    costs = param.Dict(default={}, doc="The cost answers shown, by experiment id.")
    names = param.Dict(default={}, doc="The shown experiments' labels, by id.")
    notes = param.String(default="", doc="What the page could not show, and why.")

    def __init__(
        self,
        client: DashboardClient,
        on_unauthenticated: Callable[[str], None] = lambda reason: None,
        **params: Any,
    ) -> None:
        self._books = price_book_select()
        self._chooser = experiment_chooser("the newest analysed")
        super().__init__(client, on_unauthenticated, **params)
        self._chooser.value = list(self.experiments)
        follow(self, self._books, self._chooser)

    def content(self) -> pn.viewable.Viewable:
        table = pn.bind(cost_table, self.param.costs, self.param.names)
        money = number_format(2)
        self._table = data_table(
            table, "phoenix-cost", titles=TITLES, hidden_columns=["currency"],
            formatters={c: money for c in ("monthly", "monthly low", "monthly high", "yearly",
                        "savings / month", "savings low", "savings high", "savings / year")},
        )  # fmt: skip
        return pn.Column(
            pn.pane.Markdown(
                pn.bind(self._caption, self.param.costs),
                styles={"color": "#555"},
                css_classes=["phoenix-caption"],
            ),
            self._table,
            pn.Row(
                pn.pane.HoloViews(pn.bind(_chart, table), sizing_mode="stretch_width"),
                pn.pane.HoloViews(pn.bind(_savings_chart, table), sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.pane.Markdown(self.param.notes, css_classes=["phoenix-notes"]),
            sizing_mode="stretch_width",
        )

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            self._books,
            fleet_slider(self.param.fleet_hosts),
            pn.widgets.FloatInput.from_param(
                self.param.scrape_interval_seconds,
                width=WIDGET_WIDTH,
                css_classes=["phoenix-scrape-interval"],
            ),
            self._chooser,
        ]

    @param.depends("price_book", "fleet_hosts", "scrape_interval_seconds", "experiments",
                   watch=True)  # fmt: skip
    def _asked(self) -> None:
        self.state.loading()
        self.refresh_soon()

    def read(self) -> CostReading:
        summaries = read_analysed(self.client)
        books = price_book_names(self.client.price_books())
        costs: dict[str, dict[str, Any]] = {}
        problems = []
        for experiment_id in chosen_ids(self.experiments, summaries, SHOWN_BY_DEFAULT):
            try:
                costs[experiment_id] = self.client.cost(
                    experiment_id, fleet_hosts=self.fleet_hosts,
                    price_book=self.price_book or None,
                    scrape_interval_seconds=self.scrape_interval_seconds or None,
                )  # fmt: skip
            except (Unauthenticated, ApiUnavailable):
                raise
            except PhoenixError as exc:
                problems.append(f"- {experiment_id}: no cost ({exc})")
        return CostReading(summaries, books, costs, problems)

    def draw(self, data: CostReading) -> None:
        self._books.options = book_options(data.books)
        self._chooser.options = experiment_options(data.experiments)
        names = {str(s["id"]): experiment_label(s) for s in data.experiments}
        self.param.update(costs=data.costs, names=names, notes="\n".join(data.problems))
        if not data.experiments:
            self.state.empty(NO_ANALYSED)
        elif not data.costs:
            self.state.error("The API gave no cost:\n" + "\n".join(data.problems))
        else:
            self.state.ready()

    def _caption(self, costs: dict[str, dict[str, Any]]) -> str:
        if not costs:
            return ""
        answer = next(iter(costs.values()))
        interval = self.scrape_interval_seconds
        scrape = f"every {interval:g} s" if interval else "at each experiment's own interval"
        return (
            f"Under price book **{answer['price_book']}** ({answer['vendor']}, {answer['meter']}; "
            f"taken {answer['taken']}), on **{answer['fleet_hosts']:,} hosts**, scraped "
            f"{scrape}, in **{answer['currency']}**. Low–high: the interval of each figure "
            "(from the measured usage's). Savings: against the experiment's baseline."
        )


def _chart(table: pd.DataFrame) -> Any:
    if table.empty or table["monthly"].isna().all():
        return None
    return cost_chart(table)


def _savings_chart(table: pd.DataFrame) -> Any:
    if table.empty or table["savings / month"].isna().all():
        return None
    return cost_chart(table, "savings / month", "savings low", "savings high", "Savings per month")
