"""Benchmark: the Experiment detail page with 8 KPIs × 2 variants × 10,000 points, from
navigation to fully drawn in a real browser (issue 23: under 2 s).

    .venv/bin/python bench/dashboard_detail.py [--points N] [--repeat R]

A SQLite database with one experiment (made with the store's repository) completed with an
analysis whose per-host rows hold N samples of each of 8 KPIs for the baseline and one
candidate (``support.detail``); ``phoenix api serve`` and ``phoenix dashboards serve`` beside
it, and Debian's Chromium through Playwright, logged in once. Each run opens the page and
times from ``page.goto`` to the moment the scorecard's plot, the cost's caption and the 8
KPI plots are drawn (each laid out at a size, its lines' points in the browser);
runs are 6 s apart, so that none is served from the login's 5 s cache (each reads the
~4 MB of samples again).
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import panel  # noqa: E402

from phoenix_core.auth import Role  # noqa: E402
from phoenix_core.spec import ExperimentSpec  # noqa: E402
from phoenix_core.store.database import make_engine  # noqa: E402
from phoenix_core.store.experiments import ExperimentRepository  # noqa: E402
from phoenix_core.store.hosts import HostRepository  # noqa: E402
from phoenix_core.store.migrate import upgrade  # noqa: E402
from phoenix_core.store.session import Store  # noqa: E402
from support.dashboards import chromium, dashboards_server, log_in, user_token  # noqa: E402
from support.detail import analysed_with_samples  # noqa: E402
from support.processes import api_server, exit_on_sigterm  # noqa: E402
from support.specs import NO_LOAD, spec_data  # noqa: E402

KPIS = 8


def make(database_url: str, points: int) -> str:
    """One experiment on web-1, analysed with ``points`` samples per KPI and variant."""
    store = Store(make_engine(database_url))
    with store.session() as session:
        HostRepository(session).register("web-1", actor="bench")
        data = spec_data(name="detail bench", hosts=["web-1"], host_selector=None, **NO_LOAD)
        data["variants"] = [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {"name": "slim", "role": "candidate", "template": "drop-metrics",
             "variables": {"regex": "go_.*"}},
        ]  # fmt: skip
        ident = str(
            ExperimentRepository(session).create(ExperimentSpec.parse(data), actor="bench").id
        )
    store.dispose()
    analysed_with_samples(database_url, ident, changes={"slim": -40.0}, kpis=KPIS,
                          points=points, hosts=("web-1",))  # fmt: skip
    return ident


def drawn_seconds(page: object, url: str) -> float:
    """From navigation to the scorecard's plot, the cost's caption and the 8 KPI plots drawn:
    each laid out at a size, with its lines' points in the browser."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    start = time.monotonic()
    page.goto(url)
    card = page.locator(".phoenix-scorecard-plot .bk-Canvas")
    cost = page.locator(".phoenix-cost-caption", has_text=re.compile(r"hosts"))
    while card.count() < 1 or cost.count() != 1 or page.evaluate(_KPI_PLOTS_DRAWN) < KPIS:
        if time.monotonic() - start > 60:
            sys.exit(f"not drawn in 60 s: {page.evaluate(_KPI_PLOTS_DRAWN)} KPI plots drawn")
        page.wait_for_timeout(5)
    return time.monotonic() - start


_KPI_PLOTS_DRAWN = """() => typeof Bokeh === 'undefined' ? 0 : [...Bokeh.documents]
  .flatMap(doc => [...doc.all_models])
  .filter(m => m.type == 'Figure' && m.inner_width > 0 && m.renderers.some(
    r => r.glyph && r.glyph.type == 'Line' && r.data_source.get_length() > 0)).length"""
"""The figures drawn at a size with lines: the KPI plots (the scorecard has none)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exit_on_sigterm()
    print(f"machine: {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, panel {panel.__version__}")  # fmt: skip
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database_url = f"sqlite:///{folder / 'phoenix.db'}"
        upgrade(make_engine(database_url))
        ident = make(database_url, args.points)
        viewer = user_token(database_url, "bench", Role.VIEWER)
        env = {"PHOENIX_DATABASE_URL": database_url, "PHOENIX_DASHBOARDS": "true",
               "PHOENIX_RUN_CONTROLLER": "false", "PHOENIX_LOG_LEVEL": "warning"}  # fmt: skip
        api_url, _ = stack.enter_context(api_server(env))
        standalone = stack.enter_context(dashboards_server(api_url))
        browser = stack.enter_context(chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        log_in(page, f"{standalone}/experiments", viewer)
        url = f"{standalone}/experiment?id={ident}"
        seconds = []
        for _ in range(args.repeat):
            time.sleep(6)  # the login's cache has forgotten every answer
            seconds.append(drawn_seconds(page, url))
        figures = (f"median {statistics.median(seconds):.2f} s, best {min(seconds):.2f} s, "
                   f"worst {max(seconds):.2f} s over {args.repeat} loads")  # fmt: skip
        print(f"experiment detail, {KPIS} KPIs x 2 variants x {args.points:,} points "
              f"(standalone): {figures}")  # fmt: skip


if __name__ == "__main__":
    main()
