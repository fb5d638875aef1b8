"""Every KPI query of the catalog against real collectors of both kinds (Prometheus in agent
mode; otelcol-phoenix) scraping a known set of series and remote-writing to a real Prometheus:
each answers for every variant, with the values the set and the config imply; what matches
nothing is "no data", never 0; the reader's errors name the query."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest

from phoenix_core.metrics.catalog import QueryScope, Source, builtin_catalog, render
from phoenix_core.metrics.derived import ALL_HOSTS
from phoenix_core.metrics.measurement import Measurement, measure
from phoenix_core.metrics.reader import MetricsUnavailable, PrometheusReader, has_data
from phoenix_core.pipelines.collectors import compile_pipeline
from phoenix_core.pipelines.ir import Pipeline, parse_pipeline
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire.tasks import CollectorKind
from support.exporter import static_exporter
from support.forecast_check import inventory, scrape_context
from support.otelcol import otelcol_process
from support.postgres import free_port
from support.prometheus import PrometheusServer, prometheus_agent, prometheus_server
from support.waiting import until

CATALOG = builtin_catalog()
HOST = "test-host"  # support.forecast_check.scrape_context's host
GHOST = "ghost-host"  # assigned, never runs anything: no data there, never 0
CRITICAL = ['{process="kubelet"}']
WINDOW_SECONDS = 14
LOOKBACK = 4  # seconds: each KPI value counts the samples of the last 4 s
LOST_PROCESSES = "kubelet|postgres|nginx|worker-[0-5]"
"""What the candidate "lossy" drops: the critical series and half of the process metrics."""


@pytest.fixture(scope="module")
def receiver() -> Iterator[PrometheusServer]:
    with prometheus_server() as server:
        yield server


@pytest.fixture
def reader(receiver: PrometheusServer) -> Iterator[PrometheusReader]:
    with PrometheusReader(receiver.url, timeout=10) as reader:
        yield reader


def _variants() -> dict[str, Pipeline]:
    library = TemplateLibrary.builtin()
    return {
        "baseline": library.get("baseline").render(),
        "twin": library.get("baseline").render(),
        "lossy": parse_pipeline(
            {"steps": [{"drop_series": {"label": "process", "regex": LOST_PROCESSES}}]}
        ),
    }


def _run(
    kind: CollectorKind, receiver: PrometheusServer, tmp_path: Path
) -> tuple[Measurement, pd.DataFrame]:
    """The three variants as real collectors of ``kind``; measured over a window once each
    delivers; the measurement and the source."""
    experiment = f"kpis-{kind.value}"
    source = inventory()
    with static_exporter(source) as address, ExitStack() as stack:
        reference = source.assign(job="loadsim", instance=address)
        for name, pipeline in _variants().items():
            ports = {"http": free_port(), "health": free_port(), "telemetry": free_port()}
            context = replace(
                scrape_context(name, address, receiver.remote_write_url, ports, reference),
                experiment_id=experiment,
            )
            config = compile_pipeline(kind, pipeline, context).text
            if kind is CollectorKind.OTELCOL:
                folder = tmp_path / name
                folder.mkdir()
                stack.enter_context(otelcol_process(config, ports["health"], folder))
            else:
                stack.enter_context(prometheus_agent(config, ports["http"]))
        with PrometheusReader(receiver.url, timeout=10) as reader:
            scope = QueryScope(experiment, ["loadsim"], 4)
            active = render(CATALOG.get("active_series").query or "", scope)
            until(lambda: len(reader.instant(active)) == 3, "every variant delivers", timeout=30)
            start = datetime.now(UTC)
            time.sleep(WINDOW_SECONDS + 3)  # the last points' remote writes arrive (deadline 1 s)
            measured = measure(
                reader,
                CATALOG,
                experiment_id=experiment,
                collector_kind=kind,
                jobs=["loadsim"],
                window_start=start,
                window_end=start + timedelta(seconds=WINDOW_SECONDS),
                step=1,
                lookback=LOOKBACK,
                variants=list(_variants()),
                hosts=[HOST, GHOST],
                baseline="baseline",
                critical_selectors=CRITICAL,
                collector_process=True,
            )
    return measured, source


def _values(measured: Measurement, kpi: str, variant: str, host: str = HOST) -> pd.Series:
    s = measured.samples
    return s[(s["kpi"] == kpi) & (s["variant"] == variant) & (s["host"] == host)]["value"]


@pytest.mark.parametrize("kind", list(CollectorKind), ids=lambda k: k.value)
def test_every_kpi_answers_with_what_the_source_and_config_imply(
    kind: CollectorKind, receiver: PrometheusServer, tmp_path: Path
) -> None:
    measured, source = _run(kind, receiver, tmp_path)
    series = len(source)  # the exporter's, scraped every second
    lossy = int((~source["process"].str.fullmatch(LOST_PROCESSES)).sum())

    queried = [k.name for k in CATALOG.kpis if k.source != Source.DERIVED and k.query_for(kind)]
    for kpi in queried:
        for variant in _variants():
            values = _values(measured, kpi, variant)
            assert len(values) >= WINDOW_SECONDS - 6, (kpi, variant, measured.queries[kpi])
    # what has no data: the ghost host everywhere, and retries on otelcol (not counted there)
    missing = measured.missing
    assert set(missing[missing["host"] != GHOST]["kpi"]) == (
        {"retried_samples"} if kind is CollectorKind.OTELCOL else set()
    ), missing[missing["host"] != GHOST]
    assert set(missing[missing["host"] == GHOST]["reason"]) >= {"no series matched"}

    for variant, expected in (("baseline", series), ("twin", series), ("lossy", lossy)):
        assert set(_values(measured, "active_series", variant)) == {expected}, variant
        rate = _values(measured, "samples_per_second", variant)
        # a 4 s window holds 4 or 5 scrapes a second apart, as their times fall against the
        # evaluation's (a machine under load shifts them): from the rate to 5/4 of it
        top = expected * (LOOKBACK + 1) / LOOKBACK
        assert expected * 0.9 <= rate.median() <= top * 1.02, (variant, rate.median())
        assert (_values(measured, "bytes_per_second", variant) > 0).all(), variant
        for lost in ("failed_samples", "dropped_samples", "export_errors"):
            assert set(_values(measured, lost, variant)) == {0.0}, (variant, lost)
        assert (_values(measured, "remote_write_lag_seconds", variant) < 5).all(), variant
        assert (_values(measured, "collector_cpu_cores", variant) > 0).any(), variant
        assert (_values(measured, "collector_rss_bytes", variant) > 10e6).all(), variant
    # the sources' bytes, the collector's own self-metrics left out: in proportion to samples
    bytes_ratio = (
        _values(measured, "bytes_per_second", "lossy").median()
        / _values(measured, "bytes_per_second", "baseline").median()
    )
    if kind is CollectorKind.PROMETHEUS_AGENT:
        assert bytes_ratio == pytest.approx(lossy / series, abs=0.15), (bytes_ratio, lossy / series)
    else:  # otelcol's bytes shrink less than its samples (the KPI's description): 0.83-0.96
        assert lossy / series - 0.05 < bytes_ratio < 1, (bytes_ratio, lossy / series)
    if kind is CollectorKind.PROMETHEUS_AGENT:
        assert set(_values(measured, "retried_samples", "baseline")) == {0.0}

    coverage = {v: list(_values(measured, "critical_coverage", v)) for v in _variants()}
    assert coverage == {"baseline": [100.0], "twin": [100.0], "lossy": [0.0]}
    balance = {v: list(_values(measured, "host_balance", v, ALL_HOSTS)) for v in _variants()}
    assert balance == {v: [50.0] for v in _variants()}  # delivered on 1 of the 2 assigned hosts
    assert "not measured" not in measured.queries["failed_samples"]


def test_no_match_is_no_data_and_nan_stays_nan(reader: PrometheusReader) -> None:
    scope = QueryScope("no-such-experiment", ["loadsim"], 4)
    end = datetime.now(UTC)
    for kpi in CATALOG.kpis:
        for kind in CollectorKind:
            template = kpi.query_for(kind)
            if template:
                frame = reader.range(render(template, scope), end - timedelta(seconds=20), end, 1)
                assert frame.empty and not has_data(frame), (kpi.name, kind)
    zero = reader.instant("vector(0)")
    assert has_data(zero) and list(zero["value"]) == [0.0]
    nan = reader.instant("vector(0) / 0")
    assert len(nan) == 1 and not has_data(nan)


def test_the_readers_errors_name_the_query(reader: PrometheusReader) -> None:
    with pytest.raises(MetricsUnavailable, match=r"refused query 'sum by \(\(x\)'.*bad_data"):
        reader.instant("sum by ((x)")
    port = free_port()
    nowhere = PrometheusReader(f"http://127.0.0.1:{port}", timeout=2, retries=0)
    with nowhere, pytest.raises(MetricsUnavailable, match=r"Cannot reach Prometheus .* query 'up'"):
        nowhere.instant("up")


@contextmanager
def _refusing_receiver() -> Iterator[str]:
    """A remote-write endpoint that refuses every write (HTTP 400, which neither collector
    retries); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(400)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"refused")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/write"
    finally:
        server.shutdown()
        server.server_close()


def _exposed(url: str) -> dict[str, float]:
    """Metric name (as exposed: _total, _sum, _bucket ...) to the sum of its values."""
    found: dict[str, float] = {}
    for line in httpx.get(url, timeout=5).text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)", line)
        if match:
            name, value = match.group(1), float(match.group(2))
            found[name] = found.get(name, 0.0) + value
    return found


_NAME_MATCHER = re.compile(r'__name__(=~?)"([^"]+)"')
FAILED = {
    CollectorKind.PROMETHEUS_AGENT: "prometheus_remote_storage_samples_failed_total",
    CollectorKind.OTELCOL: "otelcol_exporter_send_failed_metric_points_total",
}
ONLY_WHEN_THE_QUEUE_IS_FULL = "otelcol_exporter_enqueue_failed_metric_points(_total)?"
"""Registered with the first sample its sending queue refuses: absent here, by design."""


@pytest.mark.parametrize("kind", list(CollectorKind), ids=lambda k: k.value)
def test_the_catalog_matches_the_self_metric_names_the_binaries_expose(
    kind: CollectorKind, tmp_path: Path
) -> None:
    """Against a receiver that refuses every write, so that the failure counters exist too:
    every metric name a self-metric query of ``kind`` selects is on the collector's
    /metrics."""
    source = inventory()
    ports = {"http": free_port(), "health": free_port(), "telemetry": free_port()}
    with static_exporter(source) as address, _refusing_receiver() as url, ExitStack() as stack:
        context = scrape_context("baseline", address, url, ports, source)
        config = compile_pipeline(kind, TemplateLibrary.builtin().get("baseline").render(), context)
        if kind is CollectorKind.OTELCOL:
            stack.enter_context(otelcol_process(config.text, ports["health"], tmp_path))
            metrics = f"http://127.0.0.1:{ports['telemetry']}/metrics"
        else:
            stack.enter_context(prometheus_agent(config.text, ports["http"]))
            metrics = f"http://127.0.0.1:{ports['http']}/metrics"
        exposed = until(
            lambda: (names := _exposed(metrics)).get(FAILED[kind], 0) > 0 and names,
            f"{kind.value} counts the refused samples",
        )
    scope = QueryScope("e", ["loadsim"], 4)
    checked = set()
    for kpi in CATALOG.kpis:
        if kpi.source not in (Source.COLLECTOR_SELF, Source.METRICS_CACHE):
            continue
        template = kpi.query_for(kind)
        for op, name in _NAME_MATCHER.findall(render(template, scope) if template else ""):
            if name == ONLY_WHEN_THE_QUEUE_IS_FULL or name in SCRAPE_META_SERIES:
                continue  # (up: the sources' scrapes at the receiver, which bytes are shared by)
            hits = [n for n in exposed if (re.fullmatch(name, n) if op == "=~" else n == name)]
            assert hits, f"{kpi.name}: nothing {kind.value} exposes matches {name!r}"
            checked.add(name)
    assert len(checked) >= 8, checked
