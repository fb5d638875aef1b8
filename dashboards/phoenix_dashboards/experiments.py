"""The Experiments page: a page of experiments at a time, newest first, through the API's
cursor, filtered by state (by the API), verdict and text (here); for each analysed one shown,
its headline candidate's series change and monthly savings; a click opens its detail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import panel as pn
import param

from phoenix_core.auth import Unauthenticated
from phoenix_core.errors import PhoenixError
from phoenix_core.lifecycle import ExperimentState
from phoenix_dashboards.data import DashboardClient
from phoenix_dashboards.experiment_tables import (
    TITLES,
    VERDICT_FILTERS,
    Outcome,
    experiment_row_style,
    experiments_table,
    headline_outcome,
    matches,
    savings_unit,
)
from phoenix_dashboards.page import MISSING, LivePage, data_table, number_format
from phoenix_dashboards.paging import Position, ScanResult, scan
from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = ["ExperimentsPage", "ExperimentsReading"]

STATE_FILTERS = ["any", *(state.value for state in ExperimentState)]
OUTCOME_THREADS = 8
"""Rows whose verdict and cost are read at once (each row: two calls)."""


@dataclass(frozen=True)
class ExperimentsReading:
    page_number: int
    """The page read (1: the newest), shown with its rows, never before them."""
    page: ScanResult
    outcomes: dict[str, Outcome]
    problems: list[str]
    """Rows whose figures the API could not give, and why."""


class ExperimentsPage(LivePage):
    """A page of experiments; ``next_page``/``previous_page`` walk the API's cursor."""

    title = "Experiments"
    refresh_seconds = param.Integer(default=30, bounds=(2, 3600), label="Every (s)")
    state_filter: param.Selector[str] = param.Selector(
        default="any", objects=STATE_FILTERS, label="State"
    )
    verdict_filter: param.Selector[str] = param.Selector(
        default="any", objects=VERDICT_FILTERS, label="Verdict"
    )
    text = param.String(
        default="", label="Text", doc="Kept: rows whose name, id, author or a variant has it."
    )
    page_size = param.Integer(default=20, bounds=(1, 200), label="Rows per page")
    fleet_hosts = param.Integer(
        default=100, bounds=(1, 10_000_000), label="Fleet (hosts)",
        doc="The fleet the monthly savings are projected on.",
    )  # fmt: skip
    price_book = param.String(
        default="", label="Price book", doc="The price book of the savings; empty: the API's."
    )
    page_number = param.Integer(
        default=1, constant=True, doc="The page shown (1: the newest experiments)."
    )
    rows = param.List(default=[], doc="The summaries shown, as the API listed them.")
    outcomes = param.Dict(default={}, doc="Each shown analysed experiment's figures, by id.")
    has_next = param.Boolean(default=False, constant=True)
    notes = param.String(default="", doc="What the page could not show, and why.")

    def __init__(
        self,
        client: DashboardClient,
        on_unauthenticated: Callable[[str], None] = lambda reason: None,
        open_experiment: Callable[[str], None] = lambda experiment_id: None,
        **params: Any,
    ) -> None:
        self._open_experiment = open_experiment
        self._positions = [Position()]
        self._following: Position | None = None
        super().__init__(client, on_unauthenticated, **params)

    def content(self) -> pn.viewable.Viewable:
        self._table = data_table(
            pn.bind(experiments_table, self.param.rows, self.param.outcomes),
            "phoenix-experiments",
            experiment_row_style,
            titles=TITLES,
            hidden_columns=["id"],
            formatters={"series_change": number_format(1), "savings": number_format(2)},
        )
        self._table.on_click(self._clicked)
        self._previous = pn.widgets.Button(label="Previous", disabled=True, variant="outline")
        self._next = pn.widgets.Button(label="Next", disabled=True, variant="outline")
        self._previous.on_click(lambda event: self.previous_page())
        self._next.on_click(lambda event: self.next_page())
        where = pn.bind(self._where, self.param.page_number, self.param.rows)
        return pn.Column(
            pn.pane.Markdown(
                pn.bind(self._caption, self.param.outcomes, self.param.fleet_hosts),
                styles={"color": "#555"},
                css_classes=["phoenix-caption"],
            ),
            self._table,
            pn.Row(
                self._previous, pn.pane.Markdown(where, css_classes=["phoenix-page"]), self._next
            ),
            pn.pane.Markdown(self.param.notes, css_classes=["phoenix-notes"]),
            sizing_mode="stretch_width",
        )

    def controls(self) -> list[pn.viewable.Viewable]:
        return [
            pn.widgets.Select.from_param(self.param.state_filter, width=WIDGET_WIDTH),
            pn.widgets.Select.from_param(self.param.verdict_filter, width=WIDGET_WIDTH),
            pn.widgets.TextInput.from_param(self.param.text, width=WIDGET_WIDTH),
            pn.widgets.IntInput.from_param(self.param.page_size, width=WIDGET_WIDTH),
            pn.widgets.IntInput.from_param(self.param.fleet_hosts, width=WIDGET_WIDTH),
            pn.widgets.TextInput.from_param(self.param.price_book, width=WIDGET_WIDTH),
        ]

    # --- paging --------------------------------------------------------------------------

    def next_page(self) -> None:
        if self.has_next and self._following is not None:
            self._positions.append(self._following)
            self._moved()

    def previous_page(self) -> None:
        if len(self._positions) > 1:
            self._positions.pop()
            self._moved()

    @param.depends(
        "state_filter", "verdict_filter", "text", "page_size", "fleet_hosts", "price_book",
        watch=True,
    )  # fmt: skip
    def _first_page(self) -> None:
        self._positions = [Position()]
        self._moved()

    def _moved(self) -> None:
        self.state.loading()
        self.refresh_soon()

    # --- reading -------------------------------------------------------------------------

    def read(self) -> ExperimentsReading:
        state = None if self.state_filter == "any" else self.state_filter
        filtering = self.verdict_filter != "any" or bool(self.text.strip())
        limit = 200 if filtering else self.page_size  # sparse matches: fewer, larger reads

        def read_page(cursor: str | None) -> Mapping[str, Any]:
            return self.client.experiments_page(state=state, limit=limit, cursor=cursor)

        def keep(summary: Mapping[str, Any]) -> bool:
            return matches(summary, self.verdict_filter, self.text)

        number, start = len(self._positions), self._positions[-1]
        page = scan(read_page, start, self.page_size, keep)
        analysed = [row["id"] for row in page.rows if row["verdict"] is not None]
        with ThreadPoolExecutor(OUTCOME_THREADS) as pool:
            found = list(pool.map(self._outcome, analysed))
        outcomes = {i: o for i, (o, _) in zip(analysed, found, strict=True) if o is not None}
        problems = [problem for _, problem in found if problem]
        return ExperimentsReading(number, page, outcomes, problems)

    def _outcome(self, experiment_id: str) -> tuple[Outcome | None, str | None]:
        try:
            verdict = self.client.verdict(experiment_id)
        except Unauthenticated:
            raise
        except PhoenixError as exc:
            return None, f"{experiment_id}: no verdict ({exc})"
        book = self.price_book.strip() or None
        try:
            cost = self.client.cost(experiment_id, fleet_hosts=self.fleet_hosts, price_book=book)
        except Unauthenticated:
            raise
        except PhoenixError as exc:
            return headline_outcome(verdict, None), f"{experiment_id}: no cost ({exc})"
        return headline_outcome(verdict, cost), None

    def draw(self, data: ExperimentsReading) -> None:
        self._following = data.page.next
        with param.edit_constant(self):
            self.param.update(
                page_number=data.page_number, rows=data.page.rows, outcomes=data.outcomes,
                notes=_notes(data), has_next=data.page.next is not None,
            )  # fmt: skip
        self._next.disabled = not self.has_next
        self._previous.disabled = len(self._positions) == 1
        if data.page.rows:
            self.state.ready()
        elif self.page_number == 1 and self.state_filter == "any" and not self._filtered():
            self.state.empty("No experiment yet: `phoenix experiment create SPEC` makes one.")
        else:
            self.state.empty("No experiment matches these filters.")

    def _filtered(self) -> bool:
        return self.verdict_filter != "any" or bool(self.text.strip())

    def _clicked(self, event: Any) -> None:
        rows = self.rows
        if 0 <= event.row < len(rows):
            self._open_experiment(str(rows[event.row]["id"]))

    def _caption(self, outcomes: dict[str, Outcome], fleet_hosts: int) -> str:
        books = sorted({o.price_book for o in outcomes.values() if o.price_book})
        book = ", ".join(books) or self.price_book.strip() or "the API's default"
        return (
            "Candidate: the verdict's winner, else the candidate that cut the most series. "
            "Series vs baseline: its active series against the baseline's (the verdict's "
            f"comparison, %). Savings / month: its savings, {savings_unit(outcomes)}, on "
            f"{fleet_hosts:,} hosts under price book {book} (the API's cost). "
            f"{MISSING}: not analysed, or no figure. Click a row to open the experiment."
        )

    @staticmethod
    def _where(page_number: int, rows: list[dict[str, Any]]) -> str:
        return f"Page {page_number} ({len(rows)} experiments)"


def _notes(data: ExperimentsReading) -> str:
    lines = []
    if data.page.next is not None and len(data.page.rows) == 0:
        lines.append(f"Read {data.page.scanned:,} experiments without a match; Next reads on.")
    lines += [f"- {problem}" for problem in data.problems]
    return "\n".join(lines)
