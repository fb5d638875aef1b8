"""Price books: shipped ones load, a user's loads from text or a mapping, bad ones name fields."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from phoenix_core.analysis.price_books import (
    Meter,
    PriceBook,
    builtin_price_books,
    load_price_book,
)
from phoenix_core.errors import ValidationFailed

SHIPPED = {
    "amazon-managed-prometheus": Meter.SAMPLES_INGESTED,
    "azure-monitor-managed-prometheus": Meter.SAMPLES_INGESTED,
    "datadog-custom-metrics": Meter.CUSTOM_METRICS,
    "google-managed-prometheus": Meter.SAMPLES_INGESTED,
    "grafana-cloud-pro": Meter.ACTIVE_SERIES,
    "new-relic": Meter.GB_INGESTED,
}

GOOD: dict[str, Any] = {
    "name": "my-vendor",
    "vendor": "My Vendor",
    "meter": "samples_ingested",
    "currency": "EUR",
    "per": 1_000_000,
    "tiers": [
        {"up_to": 1_000_000_000, "price": 0.10},
        {"up_to": 5_000_000_000, "price": 0.08},
        {"up_to": None, "price": 0.05},
    ],
    "source": "https://example.com/pricing",
    "taken": "2026-12-01",
    "note": "contract price, 2026",
}


def _paths(data: object) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        load_price_book(data)  # type: ignore[arg-type]
    return [error.path for error in caught.value.errors]


def _with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


def test_every_vendor_of_the_issue_ships_a_book() -> None:
    books = builtin_price_books()
    assert {name: book.meter for name, book in books.items()} == SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_book_says_where_and_when_its_figures_come_from(name: str) -> None:
    book = builtin_price_books()[name]
    assert book.source.startswith("https://")
    assert book.taken.isoformat() == "2026-12-05"
    assert book.currency == "USD"
    assert "list price" in book.note.lower()  # every shipped figure is a list price
    assert book.tiers[-1].up_to is None


def test_the_shipped_figures() -> None:
    books = builtin_price_books()
    prices = {name: [(t.up_to, t.price) for t in b.tiers] for name, b in books.items()}
    assert prices["amazon-managed-prometheus"] == [(2e9, 0.90), (252e9, 0.35), (None, 0.16)]
    assert books["amazon-managed-prometheus"].per == 10_000_000
    assert prices["google-managed-prometheus"] == [
        (50e9, 0.06),
        (250e9, 0.048),
        (500e9, 0.036),
        (None, 0.024),
    ]
    assert books["google-managed-prometheus"].per == 1_000_000
    assert prices["azure-monitor-managed-prometheus"] == [(None, 0.16)]
    assert prices["grafana-cloud-pro"] == [(1e4, 0), (1e5, 6.5), (2e5, 5.9), (None, 5.5)]
    assert books["grafana-cloud-pro"].included_dpm_per_series == 1
    assert prices["datadog-custom-metrics"] == [(None, 5.0)]
    assert books["datadog-custom-metrics"].included_per_host == 100
    assert prices["new-relic"] == [(100, 0), (None, 0.40)]


def test_a_user_book_loads_from_yaml_json_or_a_mapping() -> None:
    yaml_text = """
name: my-vendor
vendor: My Vendor
meter: samples_ingested
currency: EUR
per: 1_000_000
tiers:
  - {up_to: 1_000_000_000, price: 0.10}
  - {up_to: 5_000_000_000, price: 0.08}
  - {up_to: null, price: 0.05}
source: https://example.com/pricing
taken: 2026-12-01
note: contract price, 2026
"""
    from_yaml = load_price_book(yaml_text)
    assert from_yaml == load_price_book(json.dumps(GOOD)) == load_price_book(GOOD)
    assert isinstance(from_yaml, PriceBook)
    assert from_yaml.lower_bounds == [0, 1e9, 5e9]


def test_a_negative_price_names_the_tier() -> None:
    tiers = copy.deepcopy(GOOD["tiers"])
    tiers[1]["price"] = -0.01
    assert _paths(_with(tiers=tiers)) == ["tiers.1.price"]


def test_overlapping_tiers_name_the_bound() -> None:
    tiers = copy.deepcopy(GOOD["tiers"])
    tiers[1]["up_to"] = 500_000_000  # below the first tier's 1e9
    assert _paths(_with(tiers=tiers)) == ["tiers.1.up_to"]


def test_an_unbounded_tier_before_the_last_names_it() -> None:
    tiers = copy.deepcopy(GOOD["tiers"])
    tiers[0]["up_to"] = None
    assert _paths(_with(tiers=tiers)) == ["tiers.0.up_to"]


def test_a_bounded_last_tier_names_it() -> None:
    tiers = copy.deepcopy(GOOD["tiers"])
    tiers[2]["up_to"] = 9_000_000_000
    assert _paths(_with(tiers=tiers)) == ["tiers.2.up_to"]


def test_every_meter_names_the_unit_it_bills() -> None:
    units = {meter: meter.unit for meter in Meter}
    assert units == {
        Meter.ACTIVE_SERIES: "series",
        Meter.CUSTOM_METRICS: "custom metrics",
        Meter.SAMPLES_INGESTED: "samples",
        Meter.GB_INGESTED: "GB",
    }


def test_an_unknown_meter_names_the_meter() -> None:
    assert _paths(_with(meter="hosts")) == ["meter"]


def test_a_missing_source_names_the_source() -> None:
    data = _with()
    del data["source"]
    assert _paths(data) == ["source"]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"source": "example.com/pricing"}, "source"),
        ({"currency": "usd"}, "currency"),
        ({"taken": "last week"}, "taken"),
        ({"per": 0}, "per"),
        ({"tiers": []}, "tiers"),
        ({"included_per_host": -1}, "included_per_host"),
        ({"included_dpm_per_series": 1}, "included_dpm_per_series"),  # not active_series
        ({"name": "My Vendor"}, "name"),
        ({"discount": 0.1}, "discount"),
    ],
)
def test_other_bad_fields_are_named(changes: dict[str, Any], path: str) -> None:
    assert _paths(_with(**changes)) == [path]


def test_text_that_is_not_a_book_is_refused_as_a_whole() -> None:
    assert _paths("tiers: [unclosed") == [""]
    assert _paths("- just\n- a list\n") == [""]
