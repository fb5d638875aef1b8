"""Costs against hand-computed expectations, one or more per shipped price book.

A month is 730 h = 2,628,000 s; so 1,000 samples/s for a month is 2.628e9 samples and
100,000 bytes/s is 262.8 GB (10^9 bytes).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from phoenix_core.analysis.cost import (
    SECONDS_PER_MONTH,
    Estimate,
    Fleet,
    Usage,
    project_costs,
    variant_cost,
)
from phoenix_core.analysis.price_books import PriceBook, builtin_price_books
from phoenix_core.errors import ValidationFailed

BOOKS = builtin_price_books()


def _monthly(book: str, usage: Usage, fleet: Fleet) -> float:
    return variant_cost(BOOKS[book], usage, fleet).monthly.value


def _samples(per_second: float) -> Usage:
    return Usage(Estimate(1.0), samples_per_second=Estimate(per_second))


def test_a_month_is_730_hours() -> None:
    assert SECONDS_PER_MONTH == 2_628_000


# Amazon Managed Service for Prometheus: $0.90 / $0.35 / $0.16 per 10M samples, tiers at 2e9
# and 252e9 samples a month.


def test_amazon_within_the_first_tier() -> None:
    # 500/s × 2,628,000 s = 1.314e9 samples = 131.4 × 10M → 131.4 × 0.90 = 118.26
    assert _monthly("amazon-managed-prometheus", _samples(500), Fleet(1)) == pytest.approx(118.26)


def test_amazon_across_the_first_tier_boundary() -> None:
    # 1,000/s → 2.628e9: first 2e9 = 200 × 10M × 0.90 = 180; the 0.628e9 above the boundary
    # = 62.8 × 10M × 0.35 = 21.98; total 201.98
    assert _monthly("amazon-managed-prometheus", _samples(1000), Fleet(1)) == pytest.approx(201.98)


def test_amazon_across_both_boundaries() -> None:
    # 100,000/s → 2.628e11: 180 + 250e9/1e7 × 0.35 = 8,750 + (2.628e11 − 2.52e11)/1e7 × 0.16
    # = 1,080 × 0.16 = 172.8; total 9,102.8
    assert _monthly("amazon-managed-prometheus", _samples(100_000), Fleet(1)) == pytest.approx(
        9102.8
    )


def test_google_across_the_first_tier_boundary() -> None:
    # 1,000/s × 20 hosts → 5.256e10 samples: 50,000M × 0.06 = 3,000; 2,560M × 0.048 = 122.88
    cost = _monthly("google-managed-prometheus", _samples(1000), Fleet(20))
    assert cost == pytest.approx(3122.88)


def test_azure_is_flat() -> None:
    # 1,000/s → 2.628e9 = 262.8 × 10M × 0.16 = 42.048
    assert _monthly("azure-monitor-managed-prometheus", _samples(1000), Fleet(1)) == pytest.approx(
        42.048
    )


# Grafana Cloud Pro: billed series = max(series, DPM ÷ 1); 10k free, $6.50 per 1k to 100k,
# $5.90 to 200k, $5.50 beyond.


def _grafana(series: float, scrape_seconds: float, hosts: int, at: float | None = None) -> float:
    usage = Usage(Estimate(series), samples_per_second=Estimate(series / scrape_seconds))
    return _monthly("grafana-cloud-pro", usage, Fleet(hosts, scrape_interval_seconds=at))


def test_grafana_bills_dpm_when_it_is_the_larger() -> None:
    # 1,000 series × 50 hosts = 50,000 series; at 15 s each sends 4 DPM: 200,000 DPM ÷ 1 =
    # 200,000 billed. (100k − 10k) × 6.50/1k = 585; (200k − 100k) × 5.90/1k = 590; total 1,175
    assert _grafana(1000, 15, 50) == pytest.approx(1175)


def test_grafana_bills_series_when_they_are_the_larger() -> None:
    # at 120 s: 25,000 DPM < 50,000 series → 50,000 billed: (50k − 10k) × 6.50/1k = 260
    assert _grafana(1000, 120, 50) == pytest.approx(260)
    # at 60 s both are 50,000 → 260 as well
    assert _grafana(1000, 60, 50) == pytest.approx(260)


def test_grafana_at_another_scrape_interval() -> None:
    # measured at 15 s (4 DPM), projected at 60 s: samples/s × 15/60 → 50,000 DPM → 260
    assert _grafana(1000, 15, 50, at=60) == pytest.approx(260)
    # and past the 200k boundary: 1,000 × 60 hosts at 10 s = 360,000 DPM: 585 + 590 +
    # 160 × 5.50 = 880 → 2,055
    assert _grafana(1000, 15, 60, at=10) == pytest.approx(2055)


def test_grafana_under_the_included_series_is_free() -> None:
    assert _grafana(100, 60, 50) == 0  # 5,000 series, 5,000 DPM


# Datadog: custom metrics ≈ active series; 100 per host free; $5 per 100 beyond.


def test_datadog_takes_off_the_allotment_per_host() -> None:
    # 500 series × 10 hosts = 5,000; allotment 100 × 10 = 1,000; 4,000 ÷ 100 × 5 = 200
    usage = Usage(Estimate(500))
    cost = variant_cost(BOOKS["datadog-custom-metrics"], usage, Fleet(10))
    assert cost.billable.value == pytest.approx(4000)
    assert cost.monthly.value == pytest.approx(200)
    assert cost.yearly.value == pytest.approx(2400)


def test_datadog_within_the_allotment_is_free() -> None:
    assert _monthly("datadog-custom-metrics", Usage(Estimate(80)), Fleet(10)) == 0


# New Relic: GB = bytes/s × seconds ÷ 1e9; 100 GB free, then $0.40.


def test_new_relic_gb_from_bytes_per_second() -> None:
    # 100,000 B/s × 2,628,000 s = 262.8 GB; (262.8 − 100) × 0.40 = 65.12
    usage = Usage(Estimate(1), bytes_per_second=Estimate(100_000))
    cost = variant_cost(BOOKS["new-relic"], usage, Fleet(1))
    assert cost.billable.value == pytest.approx(262.8)
    assert cost.monthly.value == pytest.approx(65.12)


def test_new_relic_under_100_gb_is_free() -> None:
    usage = Usage(Estimate(1), bytes_per_second=Estimate(10_000))  # 26.28 GB
    assert _monthly("new-relic", usage, Fleet(1)) == 0


def test_bytes_follow_the_sample_rate_to_another_scrape_interval() -> None:
    # measured: 1,500 series at 100 samples/s (15 s), 100,000 B/s; at 30 s both halve:
    # 50,000 B/s → 131.4 GB → 31.4 × 0.40 = 12.56
    usage = Usage(
        Estimate(1500), samples_per_second=Estimate(100), bytes_per_second=Estimate(100_000)
    )
    assert _monthly("new-relic", usage, Fleet(1, scrape_interval_seconds=30)) == pytest.approx(
        12.56
    )


def test_an_unmeasured_input_costs_nan_not_zero() -> None:
    usage = Usage(Estimate(1000))  # no samples/s, no bytes/s
    assert math.isnan(_monthly("new-relic", usage, Fleet(1)))
    assert math.isnan(_monthly("amazon-managed-prometheus", usage, Fleet(1)))
    assert math.isnan(_monthly("grafana-cloud-pro", usage, Fleet(1)))
    # a chosen scrape interval gives the sample rate: 1,000 / 10 s = 100/s → 2.628e8 → 23.652
    assert _monthly(
        "amazon-managed-prometheus", usage, Fleet(1, scrape_interval_seconds=10)
    ) == pytest.approx(23.652)


# Confidence intervals and savings.


def test_savings_carry_the_candidate_interval() -> None:
    # baseline 1,000 series/host; candidate −40 % (CI −45 % … −35 %) = 600 (550 … 650).
    # Datadog, 10 hosts: baseline 10,000 − 1,000 = 9,000 → 450.
    # candidate 5,000 → 250 (4,500 → 225 … 5,500 → 275).
    # savings 450 − 250 = 200, low 450 − 275 = 175, high 450 − 225 = 225.
    baseline = Usage(Estimate(1000))
    candidate = Usage(Estimate.from_change(1000, -40, -45, -35))
    assert candidate.active_series == Estimate(600, 550, 650)
    cost = variant_cost(BOOKS["datadog-custom-metrics"], candidate, Fleet(10), baseline)
    assert cost.monthly.bounds == pytest.approx((225, 250, 275))
    assert cost.savings_monthly is not None and cost.savings_yearly is not None
    assert cost.savings_monthly.bounds == pytest.approx((175, 200, 225))
    assert cost.savings_yearly.bounds == pytest.approx((2100, 2400, 2700))


def test_an_interval_across_a_tier_boundary_maps_to_the_cost_at_its_bounds() -> None:
    # Amazon, 1 host: 700 … 800 … 900 samples/s = 1.8396e9 … 2.1024e9 … 2.3652e9 samples.
    # low: 183.96 × 0.90 = 165.564; value: 180 + 10.24 × 0.35 = 183.584;
    # high: 180 + 36.52 × 0.35 = 192.782
    usage = Usage(Estimate(1), samples_per_second=Estimate(800, 700, 900))
    cost = variant_cost(BOOKS["amazon-managed-prometheus"], usage, Fleet(1))
    assert cost.monthly.bounds == pytest.approx((165.564, 183.584, 192.782))


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": ["baseline", "topk", "drop"],
            "role": ["baseline", "candidate", "candidate"],
            "active_series": [1000.0, 600.0, 1000.0],
            "active_series_low": [np.nan, 550.0, 900.0],
            "active_series_high": [np.nan, 650.0, 1100.0],
            "samples_per_second": [1000 / 15, 600 / 15, 1000 / 15],
            "bytes_per_second": [20_000.0, 12_000.0, 20_000.0],
        }
    )


def test_the_frame_has_one_row_per_variant_and_book() -> None:
    out = project_costs(_frame(), Fleet(10))
    assert len(out) == 3 * len(BOOKS)
    assert list(out.columns[:7]) == [
        "variant",
        "role",
        "price_book",
        "vendor",
        "meter",
        "currency",
        "billable",
    ]
    dd = out[out.price_book == "datadog-custom-metrics"].set_index("variant")
    assert dd.loc["topk", ["monthly_low", "monthly", "monthly_high"]].tolist() == pytest.approx(
        [225, 250, 275]
    )
    assert dd.loc["topk", "savings_monthly_low"] == pytest.approx(175)
    assert dd.loc["topk", "savings_monthly_high"] == pytest.approx(225)
    assert dd.loc["topk", "savings_percent"] == pytest.approx(200 / 450 * 100)
    # "drop" saves nothing on its value, but its interval reaches both ways:
    # 9,000 … 10,000 … 11,000 series − 1,000 → 400 … 450 … 500 → savings −50 … 0 … 50
    assert dd.loc[
        "drop", ["savings_monthly_low", "savings_monthly", "savings_monthly_high"]
    ].tolist() == pytest.approx([-50, 0, 50])
    assert (out[out.role == "baseline"].savings_monthly == 0).all()
    assert (out.yearly == out.monthly * 12).all()


def test_the_frame_agrees_with_the_typed_helper() -> None:
    frame = _frame()
    out = project_costs(frame, Fleet(10, scrape_interval_seconds=30)).set_index(
        ["variant", "price_book"]
    )
    baseline = Usage(Estimate(1000), Estimate(1000 / 15), Estimate(20_000))
    topk = Usage(Estimate(600, 550, 650), Estimate(600 / 15), Estimate(12_000))
    for name, book in BOOKS.items():
        cost = variant_cost(book, topk, Fleet(10, scrape_interval_seconds=30), baseline)
        row = out.loc[("topk", name)]
        assert [row.monthly_low, row.monthly, row.monthly_high] == pytest.approx(
            list(cost.monthly.bounds)
        )
        assert cost.savings_monthly is not None
        assert row.savings_monthly == pytest.approx(cost.savings_monthly.value)


def test_experiments_are_priced_against_their_own_baseline() -> None:
    one = _frame().assign(experiment="a")
    two = _frame().assign(experiment="b", active_series=[2000.0, 600.0, 1000.0])
    out = project_costs(pd.concat([one, two]), Fleet(10), [BOOKS["datadog-custom-metrics"]])
    saved = out.set_index(["experiment", "variant"]).savings_monthly
    assert saved[("a", "topk")] == pytest.approx(200)
    # b: baseline 20,000 − 1,000 → 950; topk 250 → 700
    assert saved[("b", "topk")] == pytest.approx(700)


def test_a_users_own_book_prices_the_same_way() -> None:
    book = PriceBook.model_validate(
        {
            "name": "contract",
            "vendor": "Grafana Labs",
            "meter": "active_series",
            "currency": "USD",
            "per": 1000,
            "tiers": [{"price": 3.0}],
            "included_dpm_per_series": 4,
            "source": "https://grafana.com/pricing/",
            "taken": "2026-12-05",
            "note": "contract price",
        }
    )
    # 50,000 series at 15 s = 200,000 DPM ÷ 4 = 50,000 → 50 × 3 = 150
    usage = Usage(Estimate(1000), samples_per_second=Estimate(1000 / 15))
    assert variant_cost(book, usage, Fleet(50)).monthly.value == pytest.approx(150)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"role": ["baseline", "baseline", "candidate"]}, "usage.role"),
        ({"role": ["baseline", "control", "candidate"]}, "usage.1.role"),
        ({"active_series": [-1.0, 600.0, 1000.0]}, "usage.0.active_series"),
        ({"active_series_low": [np.nan, 700.0, 900.0]}, "usage.1.active_series"),
    ],
)
def test_a_bad_usage_frame_names_the_field(change: dict[str, object], path: str) -> None:
    frame = _frame().assign(**change)
    with pytest.raises(ValidationFailed) as caught:
        project_costs(frame, Fleet(10))
    assert [e.path for e in caught.value.errors] == [path]


def test_a_frame_without_series_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        project_costs(_frame().drop(columns="active_series"), Fleet(1))
    assert [e.path for e in caught.value.errors] == ["usage.active_series"]


def test_bad_fleets_and_estimates_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="hosts"):
        Fleet(0)
    with pytest.raises(ValidationFailed, match="scrape_interval_seconds"):
        Fleet(1, scrape_interval_seconds=0)
    with pytest.raises(ValidationFailed):
        Estimate(10, low=11)
    with pytest.raises(ValidationFailed, match="bytes_per_second"):
        Usage(Estimate(1), bytes_per_second=Estimate(-5))
