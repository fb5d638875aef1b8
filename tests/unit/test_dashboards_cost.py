"""The Cost page: its table, chart and parameters, against the in-memory client (no server,
no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import holoviews as hv
import panel as pn
import pytest

from phoenix_core.client import ApiUnavailable
from phoenix_dashboards.controls import book_options
from phoenix_dashboards.cost import NO_ANALYSED, CostPage, chosen_ids
from phoenix_dashboards.cost_tables import analysed, cost_chart, cost_table, price_book_names
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient, cost, summary, verdict

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


PASSED = summary("drop pid", "completed", "pass", minutes_ago=1)
FAILED = summary("top 5", "completed", "fail", minutes_ago=2, variants=["baseline", "top5"])
DRAFT = summary("draft", minutes_ago=3)
BOOKS = [{"name": "grafana-cloud-pro"}, {"name": "datadog-custom-metrics"}]


def _client(experiments: list[dict[str, object]] | None = None) -> FakeClient:
    return FakeClient(
        experiments=[PASSED, FAILED, DRAFT] if experiments is None else experiments,
        verdicts={
            PASSED["id"]: verdict("slim", {"slim": -48.0}),
            FAILED["id"]: verdict(None, {"top5": -3.0}),
        },
        costs={PASSED["id"]: cost({"slim": 4.0}), FAILED["id"]: cost({"top5": None})},
        price_books=BOOKS,
    )


def test_only_analysed_experiments_are_offered_and_the_newest_shown_until_some_are_chosen() -> None:
    summaries = analysed([PASSED, FAILED, DRAFT])
    assert [s["name"] for s in summaries] == ["drop pid", "top 5"]
    assert chosen_ids([], summaries, 1) == [PASSED["id"]]
    assert chosen_ids([FAILED["id"], "gone"], summaries, 1) == [FAILED["id"]]
    assert price_book_names(BOOKS) == ["datadog-custom-metrics", "grafana-cloud-pro"]
    assert book_options(["b"]) == {"the API's default": "", "b": "b"}


def test_each_variant_has_its_monthly_and_yearly_cost_and_savings_with_their_intervals() -> None:
    table = cost_table({PASSED["id"]: cost({"slim": 4.0})}, {PASSED["id"]: "drop pid"})
    rows = table.set_index("variant").to_dict("index")
    assert rows["baseline"]["monthly"] == 10.0 and rows["baseline"]["yearly"] == 120.0
    assert rows["baseline"]["savings / month"] != rows["baseline"]["savings / month"]  # NaN
    assert rows["slim"]["monthly"] == 6.0
    assert (rows["slim"]["savings low"], rows["slim"]["savings / month"],
            rows["slim"]["savings high"]) == pytest.approx((3.6, 4.0, 4.4))  # fmt: skip
    assert rows["slim"]["savings / year"] == 48.0
    assert set(table["experiment"]) == {"drop pid"} and set(table["currency"]) == {"USD"}


def test_the_chart_has_a_bar_and_a_whisker_per_variant() -> None:
    chart = cost_chart(cost_table({PASSED["id"]: cost({"slim": 4.0})}, {}))
    bars, whiskers = chart.get(0), chart.get(1)
    assert isinstance(bars, hv.Bars) and isinstance(whiskers, hv.ErrorBars)
    assert list(bars.dimension_values(1)) == [10.0, 6.0]
    assert list(whiskers.dimension_values("below")) == pytest.approx([1.0, 0.6])
    table = cost_table({PASSED["id"]: cost({"slim": 4.0})}, {})
    savings = cost_chart(table, "savings / month", "savings low", "savings high", "Savings")
    assert list(savings.get(0).dimension_values(0)) == [f"{PASSED['id']} · slim"]  # no baseline
    assert list(savings.get(1).dimension_values("above")) == pytest.approx([0.4])
    assert savings.get(0).vdims[0].label == "Savings (USD)"


def test_the_page_asks_the_cost_for_its_price_book_fleet_and_interval() -> None:
    client = _client()
    page = CostPage(client)
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert set(page.costs) == {PASSED["id"], FAILED["id"]}
    assert page._books.options == book_options(price_book_names(BOOKS))
    client.calls.clear()
    page.param.update(price_book="grafana-cloud-pro", fleet_hosts=2_000,
                      scrape_interval_seconds=30, experiments=[PASSED["id"]])  # fmt: skip
    asyncio.run(page.refresh())
    asked = [args for name, args in client.calls if name == "cost"]
    assert asked == [(PASSED["id"], 2_000, "grafana-cloud-pro", 30)]
    slim = page.costs[PASSED["id"]]["variants"][1]
    assert slim["savings_monthly"]["value"] == 8_000.0  # 4 a host on 2,000 hosts
    assert "2,000 hosts" in page._caption(page.costs) and "every 30 s" in page._caption(page.costs)


def test_an_unknown_price_book_is_said_and_no_analysed_experiment_is_the_empty_state() -> None:
    page = CostPage(_client(), price_book="nope")
    asyncio.run(page.refresh())
    assert page.state.phase == "error" and "price book" in page.state.message
    empty = CostPage(_client([DRAFT]))
    asyncio.run(empty.refresh())
    assert (empty.state.phase, empty.state.message) == ("empty", NO_ANALYSED)


def test_an_unreachable_api_is_the_error_state() -> None:
    client = _client()
    client.fail = ApiUnavailable("The Phoenix API at http://phoenix.test:8000 does not answer.")
    page = CostPage(client)
    asyncio.run(page.refresh())
    assert page.state.phase == "error" and "does not answer" in page.state.message
