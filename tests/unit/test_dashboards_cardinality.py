"""The Cardinality explorer: its tables, charts, parameters and the draft an operator creates
from a recommendation, against the in-memory client (no server, no browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import holoviews as hv
import panel as pn
import pytest

from phoenix_dashboards.cardinality import NO_SERIES, CardinalityPage
from phoenix_dashboards.cardinality_tables import (
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
from support.dashboard_fake import PANEL_PANDAS_WARNING, FakeClient

pytestmark = pytest.mark.filterwarnings(PANEL_PANDAS_WARNING)


@pytest.fixture(autouse=True)
def _fresh_panel_state() -> Iterator[None]:
    yield
    pn.state.reset()


INVENTORY = {
    "selector": '{job="shop"}', "start": "2026-12-01T11:00:00Z", "end": "2026-12-01T12:00:00Z",
    "window_seconds": 3600.0, "limit": 1000, "total_series": 65, "created": 2, "ended": 1,
    "metric_count": 2, "label_count": 3,
    "metrics": [{"metric": "cpu", "series": 62, "created": 2, "ended": 1},
                {"metric": "queue", "series": 3, "created": 0, "ended": 0}],
    "labels": [{"metric": "cpu", "label": "pid", "values": 31},
               {"metric": "cpu", "label": "mode", "values": 2},
               {"metric": "queue", "label": "queue", "values": 3}],
    "pairs": [], "queries": [],
}  # fmt: skip
USAGE = {
    "sources": [], "complete": True,
    "metrics": [{"metric": "cpu", "is_pattern": False, "labels": ["mode"], "all_labels": False,
                 "all_except": [], "label_use": "mode", "queries": 2,
                 "sources": ["shop-rules@1"], "via": ["cpu"]}],
}  # fmt: skip
RECOMMENDATION = {
    "id": "rec-1", "kind": "top_k", "title": "Keep the top 5 cpu series by pid",
    "series_before": 62, "series_after": 12, "change_percent": -80.65,
    "savings": {"monthly": 617.6, "yearly": 7411.2, "percent": 68.3, "currency": "USD"},
    "usage": {"summary": "2 queries read cpu by mode"},
    "protects": [{"selector": 'queue{queue="orders"}', "series": 1}],
}  # fmt: skip
REFUSAL = {"kind": "drop_metric", "metrics": ["queue"], "labels": [], "series": 3,
           "reason": "protected by a critical selector"}  # fmt: skip
ANSWER = {"recommendations": [RECOMMENDATION], "refusals": [REFUSAL], "price_book": "gcp",
          "fleet_hosts": 2000, "collector": "prometheus-agent",
          "usage_sources": ["shop-rules@1"]}  # fmt: skip


def _client(role: str = "operator", inventory: dict[str, Any] | None = INVENTORY) -> FakeClient:
    return FakeClient(inventory=inventory, usage=USAGE, recommendations=ANSWER, role=role,
                      price_books=[{"name": "gcp"}])  # fmt: skip


def test_the_window_ends_at_the_read_and_is_as_long_as_asked() -> None:
    end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert window(end, 90) == ("2026-12-01T10:30:00+00:00", "2026-12-01T12:00:00+00:00")


def test_top_metrics_and_labels_and_their_bars() -> None:
    metrics, labels = metrics_table(INVENTORY), labels_table(INVENTORY)
    assert list(metrics["metric"]) == ["cpu", "queue"] and list(metrics["series"]) == [62, 3]
    assert list(labels["values"]) == [31, 2, 3]
    bars = top_chart(metrics, "metric", "series", "Series per metric")
    assert isinstance(bars, hv.Bars)
    assert list(bars.dimension_values(0)) == ["queue", "cpu"]  # the biggest on top


def test_a_metrics_usage_names_the_labels_no_query_reads() -> None:
    row = usage_row("cpu", 62, USAGE["metrics"][0], ["pid", "mode", "job", "instance"])
    assert (row["queries"], row["labels read"], row["labels unread"]) == (2, "mode", "pid")
    unread = usage_row("queue", 3, None, ["queue"])
    assert (unread["queries"], unread["labels unread"]) == (0, "(the metric is unread)")


def test_recommendations_with_their_savings_and_refusals_with_why() -> None:
    table = recommendations_table(ANSWER)
    assert table.iloc[0][["series before", "series after", "savings / month"]].tolist() == [
        62, 12, 617.6]  # fmt: skip
    assert table.iloc[0]["protects"] == 'queue{queue="orders"} (1 series)'
    refused = refusals_table(ANSWER)
    assert refused.iloc[0]["reason"] == "protected by a critical selector"


def test_hosts_and_host_selectors_are_read_from_what_is_typed() -> None:
    assert parse_hosts("web-1, web-2\nweb-3,") == ["web-1", "web-2", "web-3"]
    assert parse_host_selector("env=staging, role = web") == {"env": "staging", "role": "web"}
    with pytest.raises(ValueError, match="'env' is not key=value"):
        parse_host_selector("env")


def test_the_page_passes_its_inputs_to_the_api() -> None:
    client = _client()
    page = CardinalityPage(client, selector='{job="shop"}', price_book="gcp", fleet_hosts=2000,
                           critical_selectors="a\n\nb\n", collector="otelcol")  # fmt: skip
    asyncio.run(page.refresh())
    assert page.state.phase == "ready"
    assert ("cardinality", ('{job="shop"}',)) in [(n, a[:1]) for n, a in client.calls]
    asked = [a for n, a in client.calls if n == "recommendations"]
    assert asked == [('{job="shop"}', "gcp", 2000, "otelcol")]
    assert list(page.reading.usage["metric"]) == ["cpu", "queue"]
    assert "2,000 hosts" in page._recommendations_caption(page.reading)


def test_an_operator_creates_a_draft_from_a_recommendation_and_is_given_its_link() -> None:
    client = _client()
    page = CardinalityPage(client, experiment_url=lambda i: f"/experiment?id={i}")
    asyncio.run(page.refresh())
    assert page.may_operate and page._operator.visible
    assert list(page._choice.options.values()) == ["rec-1"]
    page._choice.value = "rec-1"
    assert asyncio.run(page.create_experiment()) is None  # neither hosts nor a selector
    assert "Give hosts or a host selector" in page.created
    page._hosts.value = "web-1, web-2"
    made = asyncio.run(page.create_experiment())
    assert client.drafts == [{"id": made, "state": "draft", "hosts": ["web-1", "web-2"],
                              "host_selector": None}]  # fmt: skip
    assert f"(/experiment?id={made})" in page.created


def test_a_viewer_is_not_offered_the_create_button() -> None:
    page = CardinalityPage(_client("viewer"))
    asyncio.run(page.refresh())
    assert not page.may_operate and not page._operator.visible


def test_no_series_is_the_empty_state() -> None:
    page = CardinalityPage(_client(inventory=INVENTORY | {"total_series": 0, "metrics": []}))
    asyncio.run(page.refresh())
    assert (page.state.phase, page.state.message) == ("empty", NO_SERIES)


def test_a_link_sets_the_inputs_and_what_is_not_valid_is_ignored() -> None:
    given = {"selector": '{job="shop"}', "top_k": "5", "fleet_hosts": "many",
             "collector": "nope", "scrape_interval_seconds": "60", "price_book": "gcp"}  # fmt: skip
    inputs = CardinalityPage.inputs_from_query(given, ["a", "b"])
    assert inputs == {"selector": '{job="shop"}', "top_k": 5, "scrape_interval_seconds": 60.0,
                      "price_book": "gcp", "critical_selectors": "a\nb"}  # fmt: skip
    page = CardinalityPage(_client(), **inputs)
    assert page._books.value == "gcp"


def test_the_cache_keeps_answers_per_input_and_never_creates_a_draft_from_memory() -> None:
    from phoenix_dashboards.data import CachedClient

    fake = _client()
    cached = CachedClient(fake, clock=lambda: 0.0)
    for _ in range(2):
        cached.recommendations("a", critical_selectors=["x"], fleet_hosts=10)
        cached.whoami()
        cached.usage(metric="cpu")
    cached.recommendations("a", critical_selectors=["y"], fleet_hosts=10)
    assert [n for n, _ in fake.calls].count("recommendations") == 2
    assert [n for n, _ in fake.calls].count("whoami") == 1
    cached.experiment_from_recommendation("rec-1", hosts=["web-1"])
    cached.experiment_from_recommendation("rec-1", hosts=["web-1"])
    assert len(fake.drafts) == 2
