"""What the dashboards' browser tests and benchmark share: Debian's Chromium through Python
Playwright (never ``playwright install``), ``phoenix dashboards serve`` as a real process,
logging in, reading a Tabulator as text, tokens made in the store, and analysed experiments.

An analysed experiment is one the API created as a draft, taken to ``completed`` with its
verdict and stored analysis as the controller would leave it (``completed_with_analysis``):
a full run takes a minute, too slow for a page's test; the API then serves its verdict and cost
from that analysis exactly as after a real run.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phoenix_core.auth import Role, TokenKind
from phoenix_core.client import PhoenixClient
from phoenix_core.lifecycle import ExperimentState, Verdict
from phoenix_core.store.analyses import AnalysisRecord, AnalysisRepository, KpiRow
from phoenix_core.store.database import make_engine
from phoenix_core.store.experiments import ExperimentRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from support.processes import _spawn, stop_process

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = [
    "CHROMIUM",
    "World",
    "chromium",
    "completed_with_analysis",
    "dashboards_server",
    "log_in",
    "table_rows",
    "user_token",
]

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]  # fmt: skip
_PATH = [
    ExperimentState.SCHEDULED,
    ExperimentState.DEPLOYING,
    ExperimentState.WARMING_UP,
    ExperimentState.RUNNING,
    ExperimentState.ANALYZING,
    ExperimentState.COMPLETED,
]
_USAGE = {"active_series": "series", "samples_per_second": "samples/s", "bytes_per_second": "B/s"}


@dataclass(frozen=True)
class World:
    api_url: str
    """The API, with the dashboards at ``{api_url}/dashboards``."""
    standalone_url: str
    """``phoenix dashboards serve`` on the same API."""
    database_url: str
    viewer: str
    operator: str
    folder: Path
    experiments: dict[str, str]
    """Name → id of every experiment made."""

    def client(self) -> PhoenixClient:
        """The API as the viewer sees it (what the pages must show)."""
        return PhoenixClient(self.api_url, self.viewer)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium (Debian's), closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def dashboards_server(api_url: str, log: Any = subprocess.DEVNULL) -> Iterator[str]:
    """``phoenix dashboards serve --port 0 --api-url API_URL``; yields its base URL (from its
    first line), stopped after."""
    process = _spawn(
        ["phoenix", "dashboards", "serve", "--port", "0", "--api-url", api_url],
        {},
        subprocess.PIPE,
        log,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Phoenix dashboards listening on "), line
        yield line.split()[4].rstrip("/")
    finally:
        stop_process(process, grace_seconds=10)
        if process.stdout:
            process.stdout.close()


def user_token(database_url: str, name: str, role: Role) -> str:
    """A user's token, made in the store (as ``phoenix token create`` does, without its start)."""
    store = Store(make_engine(database_url))
    try:
        with store.session() as session:
            _, token = TokenRepository(session).create(
                TokenKind.USER, name, actor="test", role=role
            )
        return token
    finally:
        store.dispose()


def completed_with_analysis(
    database_url: str,
    experiment_id: str,
    *,
    verdict: Verdict,
    winner: str | None,
    changes: dict[str, float],
    baseline: dict[str, float] | None = None,
) -> None:
    """Take a draft to ``completed`` with ``verdict`` and store its analysis: the baseline's
    usage centres (``baseline``: series, samples/s, bytes/s per host) and each candidate's
    change (%, the same for the three) with an interval of ±2 points."""
    centres = baseline or {"active_series": 805.0, "samples_per_second": 80.5,
                           "bytes_per_second": 2_000.0}  # fmt: skip
    ident = uuid.UUID(experiment_id)
    end = datetime.now(UTC)
    start = end - timedelta(minutes=10)
    rows = []
    for kpi, unit in _USAGE.items():
        common = {"kpi": kpi, "unit": unit, "host": None, "query": f"the {kpi} query",
                  "window_start": start, "window_end": end}  # fmt: skip
        rows.append(KpiRow(variant="baseline", value=centres[kpi],
                           details={"role": "baseline", "n": 15}, **common))  # fmt: skip
        rows += [
            KpiRow(
                variant=variant,
                value=centres[kpi] * (1 + change / 100),
                change_percent=change,
                ci_low=change - 2,
                ci_high=change + 2,
                p_value=0.001,
                details={"role": "candidate", "n": 15},
                **common,
            )
            for variant, change in changes.items()
        ]
    reasons = [f"{winner} keeps the gates" if winner else "no candidate keeps the gates"]
    analysis = AnalysisRecord(
        experiment_id=ident, outcome=verdict.value, winner=winner, reasons=reasons,
        candidates=[{"variant": v, "outcome": verdict.value, "reasons": reasons, "notes": []}
                    for v in changes],
        gates=[], missing=[], window_start=start, window_end=end, source="measurements",
        computed_by="test", computed_at=end,
    )  # fmt: skip
    store_completed(database_url, analysis, rows)


def store_completed(database_url: str, analysis: AnalysisRecord, rows: list[KpiRow]) -> None:
    """Take the analysis' experiment (a draft) to ``completed`` with its verdict, as the
    controller does, and store the analysis and its rows."""
    store = Store(make_engine(database_url))
    try:
        with store.session() as session:
            experiments = ExperimentRepository(session)
            for state in _PATH:
                final = state is ExperimentState.COMPLETED
                experiments.transition(
                    analysis.experiment_id, state, actor="test",
                    verdict=Verdict(analysis.outcome) if final else None,
                    verdict_reasons=analysis.reasons if final else None,
                )  # fmt: skip
            AnalysisRepository(session).replace(analysis, rows)
    finally:
        store.dispose()


def log_in(page: Page, url: str, token: str) -> None:
    """Open ``url`` (a page of the dashboards), log in with ``token`` on the login page it
    sends to, and wait until the browser is back on ``url``."""
    page.goto(url)
    page.wait_for_url("**/login?next=*")
    field = page.locator("input[type=password]")
    field.fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url.split("?", maxsplit=1)[0])


def table_rows(
    page: Page,
    css_class: str,
    count: int,
    timeout: float = 15_000,
    until: Callable[[list[dict[str, str]]], bool] = lambda rows: True,
) -> list[dict[str, str]]:
    """The rows a Tabulator (``css_class``) shows, each {column: text}, once it shows
    ``count`` of them and ``until`` holds of them (rows of a hidden table, a page being read
    again, are not shown; ``until`` tells a page's new rows from the same number of old ones)."""
    rows = page.locator(f".{css_class} .tabulator-row")
    deadline = time.monotonic() + timeout / 1000
    while True:
        shown = list(rows.evaluate_all(_SHOWN_ROWS))
        if len(shown) == count and until(shown):
            return shown
        assert time.monotonic() < deadline, f"{css_class}: rows shown, not as awaited: {shown}"
        page.wait_for_timeout(50)


_SHOWN_ROWS = """rows => rows.filter(r => r.getClientRects().length > 0)
    .map(r => Object.fromEntries([...r.querySelectorAll('.tabulator-cell')]
        .map(c => [c.getAttribute('tabulator-field'), c.innerText.trim()])))"""


def bokeh_plots(page: Page) -> list[dict[str, Any]]:
    """Every Bokeh plot of the page as the browser holds it: title, backend (canvas, webgl), frame
    width and height
    (pixels), the x range's id and bounds, the legend's labels, and each line's points
    ``[[x, y], …]`` (x in ms since the epoch, as Bokeh's)."""
    return list(page.evaluate(_BOKEH_PLOTS))


_BOKEH_PLOTS = """() => [...Bokeh.documents].flatMap(doc => [...doc.all_models])
  .filter(m => m.type == 'Figure')
  .map(m => ({
    title: m.title ? m.title.text : '', backend: m.output_backend,
    inner_width: m.inner_width, inner_height: m.inner_height,
    x_range: m.x_range.id, x_start: m.x_range.start, x_end: m.x_range.end,
    legend: m.center.filter(c => c.type == 'Legend')
      .flatMap(l => l.items.map(i => i.label.value)),
    lines: m.renderers.filter(r => r.glyph && r.glyph.type == 'Line').map(r => {
      const d = r.data_source.data, x = d[r.glyph.x.field], y = d[r.glyph.y.field];
      return Array.from(x, (v, i) => [Number(v), Number(y[i])]);
    }),
  }))"""
