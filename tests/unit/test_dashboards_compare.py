"""The Compare page: its KPI table, charts and parameters, against the in-memory client (no
server, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import holoviews as hv
import panel as pn
import pytest

from phoenix_dashboards.compare import CHOOSE_TWO, ComparePage
from phoenix_dashboards.compare_tables import (
    kpi_table,
    outcomes_table,
    parse_ids,
    reduction_chart,
    savings_chart,
)
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient, cost, summary, verdict

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


PASSED = summary("drop pid", "completed", "pass", minutes_ago=1)
FAILED = summary("top 5", "completed", "fail", minutes_ago=2, variants=["baseline", "top5"])


def _verdict(winner: str | None, changes: dict[str, float]) -> dict[str, Any]:
    """A verdict with intervals and outcomes, as the API gives them."""
    answer = verdict(winner, changes)
    for row in answer["comparisons"]:
        row["unit"] = "series" if row["kpi"] == "active_series" else "cores"
        if row["change_percent"] is not None:
            row["ci_low"], row["ci_high"] = row["change_percent"] - 2, row["change_percent"] + 2
    answer["candidates"] = [{"variant": v, "outcome": answer["outcome"]} for v in changes]
    return answer


VERDICTS = {PASSED["id"]: _verdict("slim", {"slim": -48.0}),
            FAILED["id"]: _verdict(None, {"top5": -1.0})}  # fmt: skip
COSTS = {PASSED["id"]: cost({"slim": 4.0}), FAILED["id"]: cost({"top5": 0.5})}
NAMES = {PASSED["id"]: "drop pid", FAILED["id"]: "top 5"}


def test_ids_come_from_the_query_string_in_order_once_each() -> None:
    assert parse_ids(" a, b,,a ,c") == ["a", "b", "c"]
    assert parse_ids("") == []


def test_the_kpi_table_has_each_candidates_change_its_interval_and_outcome() -> None:
    table = kpi_table(VERDICTS, NAMES)
    rows = {(r["experiment"], r["candidate"], r["kpi"]): r for r in table.to_dict("records")}
    slim = rows[("drop pid", "slim", "active_series")]
    assert (slim["change (%)"], slim["low (%)"], slim["high (%)"]) == (-48.0, -50.0, -46.0)
    assert (slim["change"], slim["outcome"], slim["baseline"], slim["unit"]) == (
        "lower", "pass", 1000.0, "series")  # fmt: skip
    top5 = rows[("top 5", "top5", "active_series")]
    assert (top5["change"], top5["outcome"]) == ("no clear change", "fail")
    assert ("drop pid", "baseline", "active_series") not in rows  # the baseline is the reference


def test_reductions_and_savings_per_experiment_and_candidate_and_their_charts() -> None:
    table = outcomes_table(VERDICTS, {k: c | {"fleet_hosts": 1} for k, c in COSTS.items()}, NAMES)
    rows = table.set_index("candidate").to_dict("index")
    assert rows["slim"]["series reduction (%)"] == 48.0
    assert (rows["slim"]["savings low"], rows["slim"]["savings / month"],
            rows["slim"]["savings high"]) == pytest.approx((3.6, 4.0, 4.4))  # fmt: skip
    assert rows["top5"]["series reduction (%)"] == 1.0
    bars = reduction_chart(table)
    assert isinstance(bars, hv.Bars)
    assert list(bars.dimension_values(0)) == ["drop pid · slim", "top 5 · top5"]
    savings = savings_chart(table)
    assert list(savings.get(0).dimension_values(1)) == [4.0, 0.5]
    assert "USD" in savings.get(0).vdims[0].label


def test_the_page_compares_the_chosen_experiments_under_its_price_book_and_fleet() -> None:
    client = FakeClient(experiments=[PASSED, FAILED], verdicts=VERDICTS, costs=COSTS)
    page = ComparePage(client, experiments=[PASSED["id"]])
    asyncio.run(page.refresh())
    assert (page.state.phase, page.state.message) == ("empty", CHOOSE_TWO)
    page.param.update(experiments=[PASSED["id"], FAILED["id"]], fleet_hosts=300)
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert set(page.verdicts) == {PASSED["id"], FAILED["id"]}
    assert [a[1] for n, a in client.calls if n == "cost"][-2:] == [300, 300]
    table = outcomes_table(page.verdicts, page.costs, page.names)
    assert list(table["savings / month"]) == [1_200.0, 150.0]
    assert "300 hosts" in page._caption(page.costs, page.fleet_hosts)


def test_an_unknown_id_is_named_and_the_others_still_compared() -> None:
    client = FakeClient(experiments=[PASSED, FAILED], verdicts=VERDICTS, costs=COSTS)
    page = ComparePage(client, experiments=[PASSED["id"], FAILED["id"], "nope"])
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert "nope" in page.notes and "nope" in page._chooser.options.values()
