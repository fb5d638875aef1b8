"""Every template the otelcol compiler accepts, run by the real OpenTelemetry Collector Phoenix
builds (``deploy/otelcol/build.sh``) scraping a known set of series and remote-writing to a real
Prometheus: the series that arrive are exactly the forecast's, label for label (the same check
the prometheus-agent pipelines get in test_prometheus_agent_pipelines.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.otelcol import compile_otelcol
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire.pipeline import Pipeline
from support.exporter import static_exporter
from support.forecast_check import expected_series, inventory, template_variants, wait_for
from support.otelcol import collector_binary
from support.postgres import free_port
from support.prometheus import prometheus_server
from support.waiting import until

SCOPE_LABELS = ("otel_scope_name", "otel_scope_version")
"""The remote-write exporter labels every series with the receiver's instrumentation scope:
the same two values on all of them, so they change no series count and are left out here."""


def _variants() -> dict[str, Pipeline]:
    return {
        **template_variants(),
        "aggregate": TemplateLibrary.builtin()
        .get("aggregate")
        .render({"by": ["job", "instance", "endpoint"], "apply_to": "http_.*"}),
    }


@contextmanager
def _collector(config: str, health_port: int, folder: Path) -> Iterator[None]:
    path = folder / "config.yaml"
    path.write_text(config)
    with (folder / "collector.log").open("wb") as log:
        process = subprocess.Popen(
            [str(collector_binary()), f"--config={path}"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        until(lambda: process.poll() is not None or _healthy(health_port), "a healthy collector")
        assert process.poll() is None, (folder / "collector.log").read_text()[-2000:]
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_real_collectors_emit_exactly_the_forecast(tmp_path: Path) -> None:
    source = inventory()
    variants = _variants()
    with prometheus_server() as server, static_exporter(source) as address, ExitStack() as stack:
        reference = source.assign(job="loadsim", instance=address)
        expected = {name: expected_series(p, reference) for name, p in variants.items()}
        assert len(expected["baseline"]) == len(source)
        reducing = set(variants) - {"baseline", "droplabels"}  # 'build' is redundant: same count
        assert all(len(expected[name]) < len(source) for name in reducing)
        for name, pipeline in variants.items():
            ports = {"health": free_port(), "telemetry": free_port()}
            context = CompileContext(
                experiment_id="exp-1",
                variant=name,
                host="test-host",
                targets=[ScrapeTarget("loadsim", address)],
                remote_write_url=server.remote_write_url,
                ports=ports,
                scrape_interval_seconds=1,
                reference=reference,
                remote_write_deadline_seconds=1,
            )
            folder = tmp_path / name
            folder.mkdir()
            config = compile_otelcol(pipeline, context).text
            stack.enter_context(_collector(config, ports["health"], folder))
        measured = wait_for(server, expected, added=SCOPE_LABELS)
    for name in variants:
        assert measured[name] == expected[name], name
