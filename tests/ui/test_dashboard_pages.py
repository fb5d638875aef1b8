"""The Compare, Cost and Cardinality pages in a real browser, over a real API: what they show
equals what the API answers for the inputs chosen on the page (a price book picked, the fleet
slider moved, experiments chosen); on the Cardinality explorer, over a real Prometheus
scraping the shop's 77 known series, an operator creates a draft from the best
recommendation, and a viewer is not offered to. Each page's screenshot is saved under the
test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from phoenix_core.client import PhoenixClient
from support.dashboards import World, dashboards_server, log_in, table_rows
from support.shop import LICENSE, SELECTOR, USAGE_FILES, ShopWorld, shop_world

CRITICAL = ['shop_queue_depth{queue="orders"}', LICENSE]
EXPECTED = [  # tests/e2e/test_recommendations.py: worked out by hand
    ("top_k", 62, 12, 617.60),
    ("drop_unread_metrics", 34, 1, 396.60),
    ("drop_metric", 31, 0, 370.60),
    ("drop_metric", 3, 1, 23.60),
]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(300)  # the last patch drawn
    page.screenshot(path=tmp_path / f"{name}.png", full_page=True)


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def test_the_cost_page_shows_the_apis_cost_for_the_price_book_and_fleet_chosen(
    page: Page, world: World, tmp_path: Path
) -> None:
    log_in(page, f"{world.standalone_url}/cost", world.viewer)
    with world.client() as client:
        books = [b["name"] for b in client.price_books()]
    table_rows(page, "phoenix-cost", 4)  # two analysed experiments, two variants each
    book = next(name for name in books if name != "grafana-cloud-pro")
    page.locator(".phoenix-price-book select").select_option(book)
    fleet = page.locator(".phoenix-fleet-hosts input")
    fleet.fill("2000")
    fleet.press("Enter")
    caption = page.locator(".phoenix-caption")
    expect(caption).to_contain_text("2,000 hosts")
    page.locator(".phoenix-fleet-hosts .noUi-handle").press("ArrowRight")  # moved by one step
    expect(caption).not_to_contain_text("2,000 hosts")
    expect(caption).to_contain_text(book)
    hosts = int(fleet.input_value().replace(",", ""))
    assert 2_000 < hosts <= 2_101  # (the slider steps by 100 from 1)
    expect(caption).to_contain_text(f"{hosts:,} hosts")
    with world.client() as client:
        costs = {
            name: client.cost(world.experiments[name], fleet_hosts=hosts, price_book=book)
            for name in ("drop pid", "keep all")
        }
    shown = {(r["experiment"].split(" (")[0], r["variant"]): r
             for r in table_rows(page, "phoenix-cost", 4)}  # fmt: skip
    for name, answer in costs.items():
        for variant in answer["variants"]:
            row = shown[(name, variant["variant"])]
            savings = variant["savings_monthly"] or {}
            assert row["monthly"] == _money(variant["monthly"]["value"])
            assert row["yearly"] == _money(variant["yearly"]["value"])
            assert row["savings / month"] == _money(savings.get("value"))
            assert row["savings low"] == _money(savings.get("low"))
            assert row["savings high"] == _money(savings.get("high"))
        expect(caption).to_contain_text(f"in {answer['currency']}")
    _shot(page, tmp_path, "cost")


def test_the_compare_page_shows_the_verdicts_of_the_experiments_chosen(
    page: Page, world: World, tmp_path: Path
) -> None:
    log_in(page, f"{world.standalone_url}/compare", world.viewer)
    passed, failed = world.experiments["drop pid"], world.experiments["keep all"]
    page.goto(f"{world.standalone_url}/compare?ids={passed}")  # one, from a link
    expect(page.locator(".phoenix-empty")).to_contain_text("Choose two or more")
    choices = page.locator(".phoenix-choose-experiments input[type=search]")
    choices.click()
    choices.fill("keep all")
    choices.press("Enter")
    choices.press("Escape")
    with world.client() as client:
        verdicts = {"drop pid": client.verdict(passed), "keep all": client.verdict(failed)}
    expected = {
        (name, row["variant"], row["kpi"]): row
        for name, verdict in verdicts.items()
        for row in verdict["comparisons"]
        if row["host"] is None and row["variant"] != "baseline"
    }
    rows = table_rows(page, "phoenix-compare-kpis", len(expected))
    for row in rows:
        api = expected[(row["experiment"].split(" (")[0], row["candidate"], row["kpi"])]
        outcome = verdicts[row["experiment"].split(" (")[0]]["candidates"][0]["outcome"]
        assert row["change (%)"] == f"{api['change_percent']:,.1f}"
        assert (row["low (%)"], row["high (%)"]) == (f"{api['ci_low']:,.1f}",
                                                     f"{api['ci_high']:,.1f}")  # fmt: skip
        assert row["outcome"] == outcome
    outcomes = {r["experiment"].split(" (")[0]: r
                for r in table_rows(page, "phoenix-compare-outcomes", 2)}  # fmt: skip
    assert outcomes["drop pid"]["series reduction (%)"] == "48.8"
    assert outcomes["keep all"]["series reduction (%)"] == "3.0"
    _shot(page, tmp_path, "compare")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ShopWorld, str]]:
    folder = tmp_path_factory.mktemp("shop")
    with shop_world(folder, usage_files=USAGE_FILES[:3]) as world, (
        folder / "dashboards.log"
    ).open("a") as log, dashboards_server(world.url, log) as dashboards:  # fmt: skip
        yield world, dashboards


def _explorer(dashboards: str) -> str:
    inputs = {"selector": SELECTOR, "collector": "prometheus-agent",
              "price_book": "grafana-cloud-pro", "fleet_hosts": 2000,
              "scrape_interval_seconds": 60, "top_k": 5, "critical": CRITICAL}  # fmt: skip
    return f"{dashboards}/cardinality?{urlencode(inputs, doseq=True)}"


def test_the_cardinality_explorer_shows_the_apis_series_and_recommendations_and_creates_a_draft(
    browser: Browser, shop: tuple[ShopWorld, str], tmp_path: Path
) -> None:
    world, dashboards = shop
    with PhoenixClient(world.url, world.viewer) as client:
        inventory = client.cardinality(SELECTOR, limit=1000)
        answer = client.recommendations(
            SELECTOR, critical_selectors=CRITICAL, collector="prometheus-agent",
            price_book="grafana-cloud-pro", fleet_hosts=2000, scrape_interval_seconds=60,
            top_k=5,
        )  # fmt: skip
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log_in(page, f"{dashboards}/cardinality", world.operator)
    page.goto(_explorer(dashboards))
    metrics = table_rows(page, "phoenix-top-metrics", len(inventory["metrics"]))
    assert [(r["metric"], r["series"]) for r in metrics] == [
        (m["metric"], str(m["series"])) for m in inventory["metrics"]
    ]
    expect(page.locator(".phoenix-inventory")).to_contain_text("77 series")
    shown = table_rows(page, "phoenix-recommendations", len(EXPECTED))
    assert [(r["kind"], r["series before"], r["series after"], r["savings / month"])
            for r in shown] == [
        (r["kind"], str(r["series_before"]), str(r["series_after"]),
         _money(r["savings"]["monthly"])) for r in answer["recommendations"]
    ] == [(k, str(b), str(a), _money(s)) for k, b, a, s in EXPECTED]  # fmt: skip
    table_rows(page, "phoenix-refusals", len(answer["refusals"]))
    usage = {r["metric"]: r for r in table_rows(page, "phoenix-usage", len(metrics))}
    assert usage["shop_process_memory_bytes"]["labels unread"] == "(the metric is unread)"
    _shot(page, tmp_path, "cardinality-operator")
    page.locator(".phoenix-recommendations").scroll_into_view_if_needed()
    _shot(page, tmp_path, "cardinality-recommendations")
    page.locator(".phoenix-draft-hosts input").fill("web-1")
    page.get_by_role("button", name="Create experiment from this recommendation").click()
    created = page.locator(".phoenix-created a")
    expect(created).to_be_visible()
    experiment_id = created.inner_text()
    assert created.get_attribute("href") == f"/experiment?id={experiment_id}"
    with PhoenixClient(world.url, world.viewer) as client:
        draft = client.experiment(experiment_id)
    assert draft["state"] == "draft" and draft["spec"]["hosts"] == ["web-1"]
    _shot(page, tmp_path, "cardinality-created")
    context.close()

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log_in(page, f"{dashboards}/cardinality", world.viewer)
    page.goto(_explorer(dashboards))
    table_rows(page, "phoenix-recommendations", len(EXPECTED))
    expect(
        page.get_by_role("button", name="Create experiment from this recommendation")
    ).to_have_count(0)
    context.close()
