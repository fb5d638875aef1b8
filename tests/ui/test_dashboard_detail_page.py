"""The Experiment detail page in a real browser, over the real API: an analysed experiment's
verdict, scorecard and cost (after choosing another price book) equal what the API returns; a
viewer sees no action button; an operator stops a scheduled experiment and the page says so.
Each page's screenshot is saved under the test's tmp_path."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from phoenix_core.auth import Role
from phoenix_core.client import PhoenixClient
from phoenix_core.store.database import make_engine
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.migrate import upgrade
from phoenix_core.store.session import Store
from support.control_plane import receiving_at
from support.dashboards import (
    World,
    bokeh_plots,
    dashboards_server,
    log_in,
    table_rows,
    user_token,
)
from support.detail import analysed_with_samples
from support.processes import api_server
from support.prometheus import prometheus_server
from support.specs import NO_LOAD, spec_data


def _spec(name: str) -> dict[str, Any]:
    data = spec_data(name=name, hosts=["web-2"], host_selector=None,
                     sink={"kind": "prometheus-remote-write"}, **NO_LOAD)  # fmt: skip
    data["variants"] = [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {"name": "slim", "role": "candidate", "template": "drop-metrics",
         "variables": {"regex": "go_.*"}},
    ]  # fmt: skip
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world of its own: the experiments made here would change what the Compare and Cost
    pages' tests of the shared world see (they show its analysed experiments). An API (with
    the dashboards mounted) and ``phoenix dashboards serve`` on a database with web-2, and a
    Prometheus receiving."""
    folder = tmp_path_factory.mktemp("detail")
    database_url = f"sqlite:///{folder / 'phoenix.db'}"
    upgrade(make_engine(database_url))
    store = Store(make_engine(database_url))
    with store.session() as session:
        HostRepository(session).register("web-2", actor="test")
    store.dispose()
    viewer = user_token(database_url, "vic", Role.VIEWER)
    operator = user_token(database_url, "olga", Role.OPERATOR)
    with ExitStack() as stack:
        receiver = stack.enter_context(prometheus_server())  # (a start checks its sink)
        env = {"PHOENIX_DATABASE_URL": database_url, "PHOENIX_DASHBOARDS": "true",
               "PHOENIX_RUN_CONTROLLER": "false", **receiving_at(receiver)}  # fmt: skip
        url, _ = stack.enter_context(api_server(env, log=folder / "api.log"))
        log = stack.enter_context((folder / "dashboards.log").open("a"))
        standalone = stack.enter_context(dashboards_server(url, log))
        yield World(url, standalone, database_url, viewer, operator, folder, {})


@pytest.fixture(scope="module")
def analysed(world: World) -> str:
    """An experiment analysed with 3 KPIs' samples on web-2 (slim: -48.8 %)."""
    with PhoenixClient(world.api_url, world.operator) as operating:
        ident = str(operating.create_experiment(_spec("detail: slim"))["id"])
    analysed_with_samples(world.database_url, ident, changes={"slim": -48.8}, kpis=3)
    return ident


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def _open(page: Page, world: World, ident: str, token: str) -> None:
    """Log in (on the list: the login sends back to a listed page) and open the detail."""
    log_in(page, f"{world.standalone_url}/experiments", token)
    page.goto(f"{world.standalone_url}/experiment?id={ident}")


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(500)  # the last patch drawn
    page.screenshot(path=tmp_path / f"{name}.png", full_page=True)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def test_an_analysed_experiment_shows_what_the_api_returns_and_no_button_to_a_viewer(
    page: Page, world: World, analysed: str, tmp_path: Path
) -> None:
    _open(page, world, analysed, world.viewer)
    with world.client() as client:
        verdict = client.verdict(analysed)
        books = [b["name"] for b in client.price_books()]
        first = client.cost(analysed, fleet_hosts=100)["price_book"]  # the API's default
    expect(page.locator(".phoenix-verdict")).to_contain_text(
        f"Verdict: {verdict['outcome']} · winner {verdict['winner']}"
    )
    for reason in verdict["reasons"] + verdict["candidates"][0]["notes"]:
        expect(page.locator(".phoenix-verdict")).to_contain_text(reason)
    compared = [c for c in verdict["comparisons"] if c["details"].get("role") == "candidate"]
    page.locator(".phoenix-scorecard").evaluate("e => e.scrollIntoView()")  # (rows drawn when seen)
    rows = table_rows(page, "phoenix-scorecard", len(compared), timeout=30_000)
    assert [(r["candidate"], r["kpi"], r["change"], r["low"], r["high"]) for r in rows] == [
        (c["variant"], c["kpi"], _number(c["change_percent"]), _number(c["ci_low"]),
         _number(c["ci_high"]))
        for c in compared
    ]  # fmt: skip
    _the_plots_draw_the_apis_samples(page, world, analysed)
    said = page.locator(".phoenix-empty, .phoenix-error").filter(has_text=re.compile("."))
    expect(said).to_have_text(["The experiment names no usage sources: no query was checked."])
    for name in ("Start", "Stop", "Re-analyse"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    row = page.locator(".phoenix-scorecard .tabulator-row").first
    row.locator(".tabulator-cell").filter(has_text="►").click()  # the query behind the number
    expect(page.locator(".phoenix-query").first).to_contain_text(compared[0]["query"])
    _shot(page, tmp_path, "experiment-detail")
    page.locator(".phoenix-series").evaluate("e => e.scrollIntoView()")
    _shot(page, tmp_path, "experiment-detail-series")

    other = next(b for b in books if b != first)
    page.locator("select").filter(has=page.locator(f"option[value='{other}']")).select_option(other)
    with world.client() as client:
        cost = client.cost(analysed, fleet_hosts=100, price_book=other)
    expect(page.locator(".phoenix-cost-caption")).to_contain_text(other, timeout=15_000)
    page.locator(".phoenix-cost").evaluate("e => e.scrollIntoView()")
    shown = table_rows(page, "phoenix-cost", len(cost["variants"]))
    assert [(r["variant"], r["monthly"], r["savings_monthly"]) for r in shown] == [
        (v["variant"], _number(v["monthly"]["value"]),
         _number(v["savings_monthly"]["value"] if v["savings_monthly"] else None))
        for v in cost["variants"]
    ]  # fmt: skip
    _shot(page, tmp_path, "experiment-detail-cost")


def _series_plots(page: Page, kpis: list[str], legend: list[str]) -> list[dict[str, Any]]:
    """The KPI plots drawn, in the API's KPI order, once there is one per KPI, each drawn at
    a size (a plot laid out hidden has a frame of 0 pixels) with ``legend``'s lines."""
    deadline = time.monotonic() + 20
    while True:
        plots = {p["title"].split(" (")[0]: p for p in bokeh_plots(page)}
        drawn = [plots.get(kpi) for kpi in kpis]
        if all(p and p["inner_width"] > 100 and p["legend"] == legend for p in drawn):
            return [p for p in drawn if p]
        drawn_as = [(p["title"], p["inner_width"], p["legend"]) for p in plots.values()]
        assert time.monotonic() < deadline, f"not drawn as awaited: {drawn_as}"
        page.wait_for_timeout(100)


def _a_zoom_in_one_zooms_all(page: Page, plots: list[dict[str, Any]]) -> None:
    """Set the first plot's time range in the browser (as a zoom does): every plot's follows;
    a double-click on another shows the whole window in all again."""
    start, end = plots[0]["x_start"], plots[0]["x_end"]
    middle = (start + end) / 2
    page.evaluate(_ZOOM, [plots[0]["x_range"], middle, end])
    titles = {p["title"] for p in plots}
    for plot in bokeh_plots(page):
        if plot["title"] in titles:
            assert (plot["x_start"], plot["x_end"]) == (middle, end), plot["title"]
    page.locator(".phoenix-series .bk-Canvas").nth(1).dblclick()  # the whole window, in all
    deadline = time.monotonic() + 10
    while {(p["x_start"], p["x_end"]) for p in bokeh_plots(page) if p["title"] in titles} != {
        (start, end)
    }:
        assert time.monotonic() < deadline, "a double-click did not show the whole window"
        page.wait_for_timeout(50)


_ZOOM = """([id, start, end]) => {
  for (const doc of Bokeh.documents) {
    const range = doc.get_model_by_id(id);
    if (range) range.setv({start, end});
  }
}"""


def _the_plots_draw_the_apis_samples(page: Page, world: World, ident: str) -> None:
    """One plot per KPI with a unit in its title, a line per variant from its first sample to
    its last as the API gives them, downsampled, and every time axis the same (zoom linked);
    "Series per host" draws each host's line."""
    with world.client() as client:
        rows = [r for r in client.kpis(ident, samples=True)["kpis"]
                if r["host"] is not None and (r["details"] or {}).get("samples")]  # fmt: skip
    kpis = list(dict.fromkeys(r["kpi"] for r in rows))
    variants = sorted({r["variant"] for r in rows})
    page.locator(".phoenix-series").evaluate("e => e.scrollIntoView()")
    plots = _series_plots(page, kpis, variants)
    _a_zoom_in_one_zooms_all(page, plots)
    for kpi, plot in zip(kpis, plots, strict=True):
        unit = next(r["unit"] for r in rows if r["kpi"] == kpi)
        assert plot["title"] == f"{kpi} ({unit})"
        assert plot["backend"] == "canvas"  # (WebGL, emulated without a GPU, draws slower)
        for variant, line in zip(variants, plot["lines"], strict=True):
            samples = next(r["details"]["samples"] for r in rows
                           if r["kpi"] == kpi and r["variant"] == variant)  # fmt: skip
            t, v = samples["t"], samples["v"]
            assert 2 < len(line) <= len(t)  # (downsampled to the plot's width when longer)
            for (x, y), i in ((line[0], 0), (line[-1], -1)):  # (LTTB keeps both ends)
                assert x == pytest.approx(t[i] * 1000, abs=1)  # (ms, as Bokeh's)
                assert y == pytest.approx(v[i])
    page.locator(".bk-Checkbox", has_text="Series per host").locator("input").check()
    hosts = sorted({r["host"] for r in rows})
    _series_plots(page, kpis, [f"{v} @ {h}" for v in variants for h in hosts])


def test_an_operator_stops_a_scheduled_experiment_and_the_page_says_so(
    page: Page, world: World, tmp_path: Path
) -> None:
    with PhoenixClient(world.api_url, world.operator) as operating:
        ident = str(operating.create_experiment(_spec("detail: to stop"))["id"])
        operating.start_experiment(ident)  # scheduled: no controller deploys it
    _open(page, world, ident, world.operator)
    expect(page.locator(".phoenix-empty", has_text="Not analysed yet").first).to_be_visible()
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_enabled(timeout=15_000)
    expect(page.get_by_role("button", name="Start")).to_be_disabled()
    stop.click()
    with world.client() as client:
        notice = page.locator(".phoenix-notice")
        expect(notice).to_contain_text(re.compile(r"Stopping: the experiment is now \w+"))
        state = client.experiment(ident)["state"]
    assert state in ("stopping", "stopped")
    expect(page.locator(".phoenix-experiment")).to_contain_text(f"State: {state}")
    _shot(page, tmp_path, "experiment-detail-stopped")
