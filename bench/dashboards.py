"""Benchmark: the Experiments page with 1,000 experiments, first page drawn in a real browser
(issue 23: under 1 s).

    .venv/bin/python bench/dashboards.py [--experiments N] [--repeat R]

A SQLite database with N experiments (made with the store's repository: the API's create would
take minutes), one in ten completed with an analysis (``support.dashboards``), so that the
first page of 20 shows two analysed rows and reads their verdict and cost as well; then
``phoenix api serve`` with the dashboards mounted and ``phoenix dashboards serve`` beside it,
and Debian's Chromium through Playwright, logged in once. Each run opens the Experiments page
and times from ``page.goto`` to the moment the table shows its 20 rows with their figures;
runs are 6 s apart, so that none is served from the login's 5 s cache.
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
from phoenix_core.lifecycle import Verdict  # noqa: E402
from phoenix_core.spec import ExperimentSpec  # noqa: E402
from phoenix_core.store.database import make_engine  # noqa: E402
from phoenix_core.store.experiments import ExperimentRepository  # noqa: E402
from phoenix_core.store.hosts import HostRepository  # noqa: E402
from phoenix_core.store.migrate import upgrade  # noqa: E402
from phoenix_core.store.session import Store  # noqa: E402
from support.dashboards import (  # noqa: E402
    chromium,
    completed_with_analysis,
    dashboards_server,
    log_in,
    user_token,
)
from support.processes import api_server, exit_on_sigterm  # noqa: E402
from support.specs import NO_LOAD, spec_data  # noqa: E402

PAGE = 20
"""The page's default number of rows."""


def fill(database_url: str, count: int) -> None:
    """``count`` experiments on host web-1, one in ten completed with an analysis."""
    store = Store(make_engine(database_url))
    ids = []
    with store.session() as session:
        HostRepository(session).register("web-1", actor="bench")
        experiments = ExperimentRepository(session)
        for n in range(count):
            data = spec_data(name=f"experiment {n:04d}", hosts=["web-1"], host_selector=None,
                             **NO_LOAD)  # fmt: skip
            data["variants"] = [
                {"name": "baseline", "role": "baseline", "template": "baseline"},
                {"name": "slim", "role": "candidate", "template": "drop-metrics",
                 "variables": {"regex": "go_.*"}},
            ]  # fmt: skip
            ids.append(str(experiments.create(ExperimentSpec.parse(data), actor="bench").id))
    store.dispose()
    for n, experiment_id in enumerate(ids):
        if n % 10 == 5:
            completed_with_analysis(database_url, experiment_id, verdict=Verdict.PASS,
                                    winner="slim", changes={"slim": -40.0 - n % 7})  # fmt: skip


def first_page_seconds(page: object, url: str) -> float:
    """From navigation to the table showing ``PAGE`` rows, the analysed ones with figures."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    start = time.monotonic()
    page.goto(url)
    rows = page.locator(".phoenix-experiments .tabulator-row")
    figures = page.locator('.phoenix-experiments [tabulator-field="series_change"]',
                           has_text=re.compile(r"\d"))  # fmt: skip
    while rows.count() != PAGE or figures.count() != PAGE // 10:
        page.wait_for_timeout(5)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exit_on_sigterm()
    print(f"machine: {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, panel {panel.__version__}")  # fmt: skip
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database_url = f"sqlite:///{folder / 'phoenix.db'}"
        upgrade(make_engine(database_url))
        started = time.monotonic()
        fill(database_url, args.experiments)
        print(f"{args.experiments:,} experiments made in {time.monotonic() - started:.1f} s")
        viewer = user_token(database_url, "bench", Role.VIEWER)
        env = {"PHOENIX_DATABASE_URL": database_url, "PHOENIX_DASHBOARDS": "true",
               "PHOENIX_RUN_CONTROLLER": "false", "PHOENIX_LOG_LEVEL": "warning"}  # fmt: skip
        api_url, _ = stack.enter_context(api_server(env))
        standalone = stack.enter_context(dashboards_server(api_url))
        browser = stack.enter_context(chromium())
        for where, base in (("mounted in the API", f"{api_url}/dashboards"),
                            ("standalone", standalone)):  # fmt: skip
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            url = f"{base}/experiments"
            log_in(page, url, viewer)
            seconds = []
            for _ in range(args.repeat):
                time.sleep(6)  # the login's cache has forgotten every answer
                seconds.append(first_page_seconds(page, url))
            print(f"experiments page, first {PAGE} of {args.experiments:,} ({where}): "
                  f"median {statistics.median(seconds):.2f} s, best {min(seconds):.2f} s, "
                  f"worst {max(seconds):.2f} s over {args.repeat} loads")  # fmt: skip


if __name__ == "__main__":
    main()
