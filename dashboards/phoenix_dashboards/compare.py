"""The Compare page: two or more analysed experiments side by side: each candidate's KPIs
(change against its baseline, with the interval, and its outcome; ``…/{id}/verdict``), and bar
charts of the candidates' series reduction and monthly savings under a chosen price book on a
chosen fleet (``…/{id}/cost``)."""

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
from phoenix_dashboards.compare_tables import (
    kpi_table,
    outcomes_table,
    reduction_chart,
    savings_chart,
)
from phoenix_dashboards.controls import (
    DEFAULT_BOOK,
    book_options,
    experiment_chooser,
    fleet_slider,
    follow,
    price_book_select,
)
from phoenix_dashboards.cost import NO_ANALYSED, experiment_options, read_analysed
from phoenix_dashboards.cost_tables import experiment_label, price_book_names
from phoenix_dashboards.data import DashboardClient
from phoenix_dashboards.page import LivePage, data_table, number_format

__all__ = ["ComparePage", "CompareReading"]

CHOOSE_TWO = "Choose two or more analysed experiments to compare (in the sidebar)."


@dataclass(frozen=True)
class CompareReading:
    """The analysed experiments, the price books, and the chosen ones' verdicts and costs."""

    experiments: list[Mapping[str, Any]]
    books: list[str]
    verdicts: dict[str, dict[str, Any]]
    costs: dict[str, dict[str, Any]]
    problems: list[str]


class ComparePage(LivePage):
    """The chosen experiments' KPIs, series reductions and savings side by side."""

    title = "Compare"
    refresh_seconds = param.Integer(default=60, bounds=(2, 3600), label="Every (s)")
    experiments = param.List(
        default=[], doc="The ids compared (the multi-select, or ?ids=a,b in the URL)."
    )
    price_book = param.String(default=DEFAULT_BOOK, doc="The savings' price book; '': the API's.")
    fleet_hosts = param.Integer(
        default=1_000, bounds=(1, 100_000), label="Fleet (hosts)",
        doc="The hosts the savings are projected on.",
    )  # fmt: skip
    verdicts = param.Dict(default={}, doc="The compared experiments' verdicts, by id.")
    costs = param.Dict(default={}, doc="Their cost answers, by id.")
    names = param.Dict(default={}, doc="Their labels, by id.")
    notes = param.String(default="", doc="What the page could not show, and why.")

    def __init__(
        self,
        client: DashboardClient,
        on_unauthenticated: Callable[[str], None] = lambda reason: None,
        **params: Any,
    ) -> None:
        self._books = price_book_select()
        self._chooser = experiment_chooser("choose two or more")
        super().__init__(client, on_unauthenticated, **params)
        follow(self, self._books, self._chooser)

    def content(self) -> pn.viewable.Viewable:
        kpis = pn.bind(kpi_table, self.param.verdicts, self.param.names)
        outcomes = pn.bind(outcomes_table, self.param.verdicts, self.param.costs, self.param.names)
        percent = number_format(1)
        self._kpis = data_table(
            kpis, "phoenix-compare-kpis",
            formatters={"baseline": number_format(2), "change (%)": percent,
                        "low (%)": percent, "high (%)": percent},
        )  # fmt: skip
        money = number_format(2)
        self._outcomes = data_table(
            outcomes, "phoenix-compare-outcomes",
            formatters={"series reduction (%)": percent, "savings / month": money,
                        "savings low": money, "savings high": money},
        )  # fmt: skip
        return pn.Column(
            pn.pane.Markdown("### KPIs of each candidate against its baseline"),
            pn.pane.Markdown(
                "Change: the candidate's KPI against its own experiment's baseline over all "
                "hosts (%), low–high its interval; lower/higher: the interval lies below/above "
                "0. Outcome: the candidate's in the verdict.",
                styles={"color": "#555"},
            ),
            self._kpis,
            pn.pane.Markdown("### Series reduction and savings"),
            pn.pane.Markdown(
                pn.bind(self._caption, self.param.costs, self.param.fleet_hosts),
                styles={"color": "#555"},
                css_classes=["phoenix-caption"],
            ),
            self._outcomes,
            pn.Row(
                pn.pane.HoloViews(pn.bind(_reduction, outcomes), sizing_mode="stretch_width"),
                pn.pane.HoloViews(pn.bind(_savings, outcomes), sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            pn.pane.Markdown(self.param.notes, css_classes=["phoenix-notes"]),
            sizing_mode="stretch_width",
        )

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            self._chooser,
            self._books,
            fleet_slider(self.param.fleet_hosts),
        ]

    @param.depends("price_book", "fleet_hosts", "experiments", watch=True)
    def _asked(self) -> None:
        self.state.loading()
        self.refresh_soon()

    def read(self) -> CompareReading:
        summaries = read_analysed(self.client)
        books = price_book_names(self.client.price_books())
        verdicts: dict[str, dict[str, Any]] = {}
        costs: dict[str, dict[str, Any]] = {}
        problems = []
        for experiment_id in self.experiments:
            try:
                verdicts[experiment_id] = self.client.verdict(experiment_id)
                costs[experiment_id] = self.client.cost(
                    experiment_id, fleet_hosts=self.fleet_hosts,
                    price_book=self.price_book or None,
                )  # fmt: skip
            except (Unauthenticated, ApiUnavailable):
                raise
            except PhoenixError as exc:
                problems.append(f"- {experiment_id}: {exc}")
        return CompareReading(summaries, books, verdicts, costs, problems)

    def draw(self, data: CompareReading) -> None:
        self._books.options = book_options(data.books)
        options = experiment_options(data.experiments)
        # an id from the URL that is not among the newest analysed is still named by its id
        options |= {i: i for i in self.experiments if i not in options.values()}
        self._chooser.options = options
        if list(self._chooser.value) != list(self.experiments):
            self._chooser.value = list(self.experiments)
        names = {str(s["id"]): experiment_label(s) for s in data.experiments}
        self.param.update(verdicts=data.verdicts, costs=data.costs, names=names,
                          notes="\n".join(data.problems))  # fmt: skip
        if not data.experiments and not self.experiments:
            self.state.empty(NO_ANALYSED)
        elif len(self.experiments) < 2:
            self.state.empty(CHOOSE_TWO)
        elif not data.verdicts:
            self.state.error("The API gave no verdict:\n" + "\n".join(data.problems))
        else:
            self.state.ready()

    def _caption(self, costs: dict[str, dict[str, Any]], fleet_hosts: int) -> str:
        books = sorted({c["price_book"] for c in costs.values()})
        currencies = sorted({c["currency"] for c in costs.values()})
        return (
            "Series reduction: how many fewer active series than its baseline (%). Savings: "
            f"per month on **{fleet_hosts:,} hosts** under price book "
            f"**{', '.join(books) or self.price_book or 'the API default'}**, in "
            f"{'/'.join(currencies) or 'the book currency'}, low–high its interval."
        )


def _reduction(outcomes: pd.DataFrame) -> Any:
    if outcomes["series reduction (%)"].isna().all():
        return None
    return reduction_chart(outcomes)


def _savings(outcomes: pd.DataFrame) -> Any:
    if outcomes["savings / month"].isna().all():
        return None
    return savings_chart(outcomes)
