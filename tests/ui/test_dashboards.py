"""The dashboards in a real browser, over a real API: logging in (a refused token, a revoked
one, an unreachable API), the Fleet page (mounted in the API) and the Experiments page
(standalone) showing what the API returns, filtering, paging and opening an experiment. Each
page's screenshot is saved under the test's tmp_path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from phoenix_core.auth import Role, TokenKind
from phoenix_core.store.database import make_engine
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from phoenix_dashboards.formatting import parse_time, timestamp
from support.dashboards import World, dashboards_server, log_in, table_rows, user_token
from support.postgres import free_port

OFFLINE_RED = "rgb(253, 236, 234)"
"""The background of an offline host's cells (``fleet_tables``)."""


@pytest.fixture
def page(browser: Browser, world: World) -> Iterator[Page]:
    """A fresh browser context (no cookie); every URL it asked for is checked for tokens."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    asked: list[str] = []
    opened.on("request", lambda request: asked.append(request.url))
    yield opened
    context.close()
    for token in (world.viewer, world.operator):
        assert not [url for url in asked if token in url]


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(300)  # the last patch drawn
    page.screenshot(path=tmp_path / f"{name}.png", full_page=True)


def _revoke(world: World, name: str) -> None:
    store = Store(make_engine(world.database_url))
    with store.session() as session:
        TokenRepository(session).revoke(TokenKind.USER, name, actor="test")
    store.dispose()


def test_the_login_refuses_bad_tokens_and_a_revoked_one_sends_back_saying_so(
    page: Page, world: World, tmp_path: Path
) -> None:
    page.goto(f"{world.api_url}/dashboards/fleet")
    page.wait_for_url("**/dashboards/login?next=fleet")
    field, submit = page.locator("input[type=password]"), page.get_by_role("button", name="Log in")
    field.fill("phx_u_" + "x" * 43)  # well formed, unknown
    submit.click()
    expect(page.locator(".phoenix-login-error")).to_contain_text(
        "The API refused this token: The token is not known."
    )
    field.fill("my password")
    submit.click()
    expect(page.locator(".phoenix-login-error")).to_contain_text("This is not a user's API token")
    _shot(page, tmp_path, "login-refused")
    token = user_token(world.database_url, "tess", Role.VIEWER)
    field.fill(token)
    submit.click()
    page.wait_for_url("**/dashboards/fleet")
    expect(page.locator(".phoenix-fleet-summary")).to_contain_text("3 hosts")
    _revoke(world, "tess")
    page.goto(f"{world.api_url}/dashboards/experiments")  # its first read meets the refusal
    page.wait_for_url("**/dashboards/login?next=experiments")
    expect(page.get_by_text("The token 'tess' was revoked")).to_be_visible()
    _shot(page, tmp_path, "login-revoked")


def test_the_fleet_page_shows_the_hosts_and_collectors_the_api_returns(
    page: Page, world: World, tmp_path: Path
) -> None:
    log_in(page, f"{world.api_url}/dashboards/fleet", world.viewer)
    with world.client() as client:
        hosts, collectors = client.hosts(), client.collectors()
    shown = {row["host"]: row for row in table_rows(page, "phoenix-hosts", len(hosts))}
    for host in hosts:
        row = shown[host["hostname"]]
        assert row["status"] == host["status"]
        assert row["agent"] == host["agent_version"]
        assert row["labels"] == ", ".join(f"{k}={v}" for k, v in sorted(host["labels"].items()))
        assert row["last heartbeat"] == timestamp(parse_time(host["last_heartbeat"]))
        usage = host["resource_usage"]
        assert row["CPU (%)"] == (f"{usage['cpu_percent']:,.1f}" if usage else "–")
    assert shown["db-1"]["attention"] == "offline" and shown["db-1"]["last heartbeat"] == "never"
    assert shown["web-1"]["attention"] == "crash-looping collector (1)"
    assert shown["web-2"]["attention"] == "degraded"
    placed = table_rows(page, "phoenix-collectors", len(collectors))
    assert [
        (r["host"], r["experiment"], r["variant"], r["status"], r["restarts"]) for r in placed
    ] == [
        (c["hostname"], c["experiment_name"], c["variant"], c["status"], str(c["restarts"]))
        for c in collectors
    ]
    assert {r["status"] for r in placed} == {"crash_looping", "running"}
    offline = page.locator(".phoenix-hosts .tabulator-row", has_text="db-1")
    expect(offline.locator('[tabulator-field="host"]')).to_have_css("background-color", OFFLINE_RED)
    buttons = set(page.get_by_role("button").all_inner_texts())
    assert not buttons & {"Start", "Stop", "Re-analyse", "Decommission"}  # a viewer's page
    _shot(page, tmp_path, "fleet")


def test_the_experiments_page_shows_filters_pages_and_opens_what_the_api_returns(
    page: Page, world: World, tmp_path: Path
) -> None:
    log_in(page, f"{world.standalone_url}/experiments", world.viewer)
    with world.client() as client:
        first = client.experiments_page(limit=20)["items"]
        figures = {}
        for name in ("drop pid", "keep all"):
            verdict = client.verdict(world.experiments[name])
            cost = client.cost(world.experiments[name], fleet_hosts=100)
            figures[name] = (verdict, cost)
        pair = client.experiments_page(limit=2)
        second = client.experiments_page(limit=2, cursor=pair["next_cursor"])["items"]
    rows = table_rows(page, "phoenix-experiments", len(first))
    assert [(r["name"], r["state"], r["verdict"]) for r in rows] == [
        (e["name"], e["state"], e["verdict"] or "") for e in first
    ]
    by_name = {row["name"]: row for row in rows}
    for name, (verdict, cost) in figures.items():
        candidate = verdict["winner"] or "slim"
        change = next(c["change_percent"] for c in verdict["comparisons"]
                      if c["kpi"] == "active_series" and c["variant"] == candidate)  # fmt: skip
        savings = next(v["savings_monthly"]["value"] for v in cost["variants"]
                       if v["variant"] == candidate)  # fmt: skip
        assert by_name[name]["candidate"] == candidate
        assert by_name[name]["series_change"] == f"{change:,.1f}"
        assert by_name[name]["savings"] == f"{savings:,.2f}"
    assert by_name["draft a"]["savings"] == "–" and by_name["draft a"]["series_change"] == "–"
    expect(page.locator(".phoenix-caption")).to_contain_text(
        f"its savings, in {cost['currency']}, on 100 hosts under price book {cost['price_book']}"
    )
    _shot(page, tmp_path, "experiments")

    filter_text = page.get_by_role("textbox", name=re.compile(r"^Text"))
    filter_text.fill("draft")
    filter_text.press("Enter")
    drafts = table_rows(page, "phoenix-experiments", 4)
    assert [r["name"] for r in drafts] == [e["name"] for e in first if "draft" in e["name"]]
    filter_text.fill("")
    filter_text.press("Enter")
    table_rows(page, "phoenix-experiments", len(first))

    size = page.get_by_label("Rows per page")
    size.fill("2")
    size.press("Enter")
    assert [r["name"] for r in table_rows(page, "phoenix-experiments", 2)] == [
        e["name"] for e in pair["items"]
    ]
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".phoenix-page")).to_contain_text("Page 2")
    names = [e["name"] for e in second]  # (waited for: until drawn, page 1's rows are shown)
    table_rows(
        page, "phoenix-experiments", 2, until=lambda rows: [r["name"] for r in rows] == names
    )
    page.locator(".phoenix-experiments .tabulator-row").first.click()
    page.wait_for_url(f"**/experiment?id={second[0]['id']}")
    overview = page.locator(".phoenix-experiment")
    expect(overview).to_contain_text(second[0]["name"])
    expect(overview).to_contain_text(f"State: {second[0]['state']}")
    variants = table_rows(page, "phoenix-variants", 2)
    assert [r["variant"] for r in variants] == ["baseline", "slim"]
    _shot(page, tmp_path, "experiment")


def test_an_unreachable_api_is_said_with_its_url(page: Page, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with dashboards_server(nowhere) as url:
        page.goto(f"{url}/fleet")
        page.wait_for_url("**/login?next=fleet")
        page.locator("input[type=password]").fill("phx_u_" + "x" * 43)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".phoenix-login-error")).to_contain_text(
            f"Cannot reach the Phoenix API at {nowhere}"
        )
        _shot(page, tmp_path, "unreachable")


def test_no_token_is_in_a_log_line(world: World) -> None:
    logs = "".join(p.read_text() for p in world.folder.glob("*.log"))
    assert logs  # (the servers wrote their logs here)
    for token in (world.viewer, world.operator):
        assert token not in logs
