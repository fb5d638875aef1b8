"""The Experiments and Experiment pages: rows, figures, filters and paging through the cursor,
against the in-memory client (no server, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import panel as pn
import pytest

from phoenix_dashboards.experiment import ExperimentPage
from phoenix_dashboards.experiment_tables import (
    experiment_overview,
    experiment_row_style,
    experiments_table,
    headline_outcome,
    matches,
    savings_unit,
)
from phoenix_dashboards.experiments import ExperimentsPage
from phoenix_dashboards.paging import Position, scan
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient, cost, summary, verdict

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


PASSED = summary("drop pid", "completed", "pass", minutes_ago=1, variants=["baseline", "slim"])
FAILED = summary("top 5", "completed", "fail", minutes_ago=2, variants=["baseline", "top5"])
DRAFTS = [summary(f"draft {i}", minutes_ago=10 + i) for i in range(7)]
ANSWERS = {
    PASSED["id"]: (verdict("slim", {"slim": -48.75}), cost({"slim": 12.3456})),
    FAILED["id"]: (verdict(None, {"top5": -3.0}), cost({"top5": None})),
}


def _client(experiments: list[dict[str, Any]] | None = None) -> FakeClient:
    return FakeClient(
        experiments=[PASSED, FAILED, *DRAFTS] if experiments is None else experiments,
        verdicts={k: v for k, (v, _) in ANSWERS.items()},
        costs={k: c for k, (_, c) in ANSWERS.items()},
    )


def test_filters_match_verdict_and_text_in_name_id_author_or_variant() -> None:
    assert matches(PASSED, "pass", "")
    assert not matches(PASSED, "fail", "")
    assert matches(DRAFTS[0], "none yet", "") and not matches(PASSED, "none yet", "")
    assert matches(PASSED, "any", "SLIM")  # a variant
    assert matches(PASSED, "any", PASSED["id"][:8])
    assert matches(PASSED, "any", "olga")
    assert not matches(PASSED, "any", "nginx")


def test_the_headline_is_the_winner_else_the_candidate_that_cut_most() -> None:
    winner = headline_outcome(verdict("b", {"a": -80.0, "b": -20.0}), cost({"a": 9.0, "b": 3.0}))
    assert (winner.candidate, winner.series_change_percent, winner.savings_per_month) == (
        "b", -20.0, 3.0,
    )  # fmt: skip
    deepest = headline_outcome(verdict(None, {"a": -80.0, "b": -20.0}), None)
    assert (deepest.candidate, deepest.series_change_percent, deepest.savings_per_month) == (
        "a", -80.0, None,
    )  # fmt: skip
    assert deepest.currency is None
    unmeasured = headline_outcome(verdict(None, {"a": None}), cost({"a": None}))
    assert (unmeasured.candidate, unmeasured.series_change_percent) == ("a", None)


def test_rows_carry_the_figures_of_analysed_experiments_only() -> None:
    outcome = headline_outcome(*ANSWERS[PASSED["id"]])
    table = experiments_table([PASSED, DRAFTS[0]], {PASSED["id"]: outcome})
    first, second = table.to_dict("records")
    assert (first["name"], first["verdict"], first["candidate"]) == ("drop pid", "pass", "slim")
    assert (first["series_change"], first["savings"]) == (-48.75, 12.3456)
    assert (second["verdict"], second["candidate"]) == ("", "")
    assert second["series_change"] != second["series_change"] or second["series_change"] is None
    assert "#edf7ed" in experiment_row_style(table.iloc[0])[0]
    assert experiment_row_style(table.iloc[1]) == [""] * len(table.columns)
    assert savings_unit({PASSED["id"]: outcome}) == "in USD"
    assert savings_unit({}) == "in the price book's currency"


def _pages(items: list[dict[str, Any]], size: int) -> Any:
    def read(cursor: str | None) -> dict[str, Any]:
        start = int(cursor or 0)
        more = start + size < len(items)
        return {
            "items": items[start : start + size],
            "next_cursor": str(start + size) if more else None,
        }

    return read


def test_a_scan_fills_a_page_across_api_pages_and_resumes_inside_one() -> None:
    items = [{"n": n} for n in range(20)]
    even = _pages(items, 5)
    first = scan(even, Position(), 3, lambda i: i["n"] % 2 == 0)
    assert [i["n"] for i in first.rows] == [0, 2, 4]
    assert first.next == Position("5", 0)  # the first API page has no more: next starts at 5
    assert first.scanned == 5
    second = scan(even, first.next, 3, lambda i: i["n"] % 2 == 0)
    assert [i["n"] for i in second.rows] == [6, 8, 10]
    assert second.next == Position("10", 1)  # 12 and 14 wait in the third API page
    third = scan(even, second.next, 3, lambda i: i["n"] % 2 == 0)
    assert [i["n"] for i in third.rows] == [12, 14, 16]
    last = scan(even, third.next, 3, lambda i: i["n"] % 2 == 0)
    assert ([i["n"] for i in last.rows], last.next) == ([18], None)
    bounded = scan(even, Position(), 3, lambda i: False, max_scanned=10)
    assert (bounded.rows, bounded.next, bounded.scanned) == ([], Position("10", 0), 10)


def test_the_page_lists_reads_figures_for_analysed_rows_and_pages_through_the_cursor() -> None:
    client = _client()
    page = ExperimentsPage(client, page_size=5)
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert [r["name"] for r in page.rows] == ["drop pid", "top 5", "draft 0", "draft 1", "draft 2"]
    asked = [(name, args[0]) for name, args in client.calls if name in ("verdict", "cost")]
    assert sorted(asked) == sorted(
        [("verdict", PASSED["id"]), ("cost", PASSED["id"]),
         ("verdict", FAILED["id"]), ("cost", FAILED["id"])]
    )  # fmt: skip
    shown = page._table.value.set_index("name")
    assert shown.loc["drop pid", "savings"] == pytest.approx(1234.56)  # on 100 hosts
    assert shown.loc["top 5", "series_change"] == -3.0
    assert "Savings / month: its savings, in USD, on 100 hosts" in page._caption(
        page.outcomes, page.fleet_hosts
    )
    assert page.has_next and page._previous.disabled
    page.next_page()
    asyncio.run(page.refresh())  # (served, the page reads at once by itself)
    assert [r["name"] for r in page.rows] == ["draft 3", "draft 4", "draft 5", "draft 6"]
    assert page.page_number == 2 and not page.has_next
    page.previous_page()
    asyncio.run(page.refresh())
    assert page.page_number == 1 and page.rows[0]["name"] == "drop pid"


def test_filters_start_from_the_first_page_and_the_state_is_asked_of_the_api() -> None:
    client = _client()
    page = ExperimentsPage(client, page_size=2)
    asyncio.run(page.refresh())
    page.next_page()
    page.verdict_filter = "fail"
    asyncio.run(page.refresh())
    assert (page.page_number, [r["name"] for r in page.rows]) == (1, ["top 5"])
    page.param.update(verdict_filter="any", state_filter="completed")
    asyncio.run(page.refresh())
    assert ("experiments_page", ("completed", 2, None)) in client.calls
    assert [r["name"] for r in page.rows] == ["drop pid", "top 5"]
    page.param.update(state_filter="any", text="draft 6")
    asyncio.run(page.refresh())
    assert [r["name"] for r in page.rows] == ["draft 6"]
    page.text = "nothing like this"
    asyncio.run(page.refresh())
    assert (page.state.phase, page.state.message) == (
        "empty",
        "No experiment matches these filters.",
    )


def test_no_experiment_at_all_is_the_empty_state() -> None:
    page = ExperimentsPage(_client([]))
    asyncio.run(page.refresh())
    assert page.state.phase == "empty" and "phoenix experiment create" in page.state.message


def test_an_unknown_price_book_leaves_the_savings_blank_and_says_why() -> None:
    page = ExperimentsPage(_client(), page_size=2, price_book="no-such-book")
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert page._table.value["savings"].isna().all()
    assert page._table.value.set_index("name").loc["drop pid", "series_change"] == -48.75
    assert "no cost" in page.notes and "no-such-book" in page.notes


def test_a_click_on_a_row_opens_that_experiment() -> None:
    opened: list[str] = []
    page = ExperimentsPage(_client(), open_experiment=opened.append, page_size=3)
    asyncio.run(page.refresh())

    class Click:
        row = 1

    page._clicked(Click())
    assert opened == [FAILED["id"]]


RECORD = {
    "id": PASSED["id"],
    "state": "completed",
    "verdict": "pass",
    "verdict_reasons": ["slim saves 48.8 % of the series"],
    "failure_reason": None,
    "created_by": "user:olga",
    "created_at": "2026-12-01T11:59:00+00:00",
    "state_changed_at": "2026-12-01T12:00:00+00:00",
    "spec": {
        "name": "drop pid",
        "description": "",
        "collector": "prometheus-agent",
        "hosts": ["web-1"],
        "host_selector": None,
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline", "variables": {}},
            {
                "name": "slim",
                "role": "candidate",
                "template": "drop-labels",
                "variables": {"labels": ["pid"]},
            },
        ],
    },
}


def test_the_experiment_page_shows_its_name_state_verdict_and_variants() -> None:
    page = ExperimentPage(FakeClient(records={PASSED["id"]: RECORD}), experiment_id=PASSED["id"])
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    text = experiment_overview(RECORD)
    assert text.startswith("## drop pid")
    assert "**State:** completed since 2026-12-01 12:00:00 UTC" in text
    assert "- slim saves 48.8 % of the series" in text
    assert page.record == RECORD


def test_the_experiment_page_says_when_the_id_is_wrong_or_unknown() -> None:
    page = ExperimentPage(FakeClient(), experiment_id="not-an-id")
    asyncio.run(page.refresh())
    assert page.state.phase == "error" and "is not an experiment id" in page.state.message
    page = ExperimentPage(FakeClient(), experiment_id=PASSED["id"])
    asyncio.run(page.refresh())
    assert page.state.message == f"There is no experiment {PASSED['id']}."
