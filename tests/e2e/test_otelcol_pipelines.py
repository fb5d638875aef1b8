"""Every template the otelcol compiler accepts, run by the real OpenTelemetry Collector Phoenix
builds (``deploy/otelcol/build.sh``) scraping a known set of series and remote-writing to a real
Prometheus: the series that arrive are exactly the forecast's, label for label (the same check
the prometheus-agent pipelines get in test_prometheus_agent_pipelines.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd

from phoenix_agent.loads import FAMILIES
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.pipelines.otelcol import compile_otelcol
from phoenix_core.pipelines.templates import TemplateLibrary
from support.exporter import static_exporter
from support.forecast_check import (
    expected_series,
    inventory,
    scrape_context,
    template_variants,
    wait_for,
)
from support.otelcol import answers, otelcol_process
from support.postgres import free_port
from support.processes import stop_process
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


def _run(
    variants: dict[str, Pipeline], address: str, reference: pd.DataFrame, tmp_path: Path
) -> dict[str, set[Any]]:
    """The variants as real collectors scraping ``address``: the series each remote-wrote."""
    expected = {name: expected_series(p, reference) for name, p in variants.items()}
    with prometheus_server() as server, ExitStack() as stack:
        for name, pipeline in variants.items():
            ports = {"health": free_port(), "telemetry": free_port()}
            context = scrape_context(name, address, server.remote_write_url, ports, reference)
            folder = tmp_path / name
            folder.mkdir()
            config = compile_otelcol(pipeline, context).text
            stack.enter_context(otelcol_process(config, ports["health"], folder))
        return wait_for(server, expected, added=SCOPE_LABELS)


def test_real_collectors_emit_exactly_the_forecast(tmp_path: Path) -> None:
    source = inventory()
    variants = _variants()
    with static_exporter(source) as address:
        reference = source.assign(job="loadsim", instance=address)
        expected = {name: expected_series(p, reference) for name, p in variants.items()}
        assert len(expected["baseline"]) == len(source)
        reducing = set(variants) - {"baseline", "droplabels"}  # 'build' is redundant: same count
        assert all(len(expected[name]) < len(source) for name in reducing)
        measured = _run(variants, address, reference, tmp_path)
    for name in variants:
        assert measured[name] == expected[name], name


def test_the_load_simulators_exporter_arrives_exactly(tmp_path: Path) -> None:
    """Typed metrics from the agent's own high-cardinality load (counters keep their _total):
    the baseline gets the exporter's known series, top-k the forecast's."""
    port, series = free_port(), 30
    parameters = json.dumps({"series": series, "metrics": len(FAMILIES)})
    load = subprocess.Popen(
        [sys.executable, "-m", "phoenix_agent.loadsim", "serve", "--port", str(port),
         "--seconds", "120", "--parameters", parameters],
    )  # fmt: skip
    try:
        address = f"127.0.0.1:{port}"
        until(lambda: answers(f"http://{address}/metrics"), "the load serves")
        truth = pd.DataFrame(
            {
                "__name__": name,
                "process": f"proc-0-{i:05d}",
                "pid": str(10_000 + i),
                "job": "loadsim",
                "instance": address,
                "__value__": value(i),
            }
            for name, _, value in FAMILIES
            for i in range(series)
        )
        library = TemplateLibrary.builtin()
        variants = {
            "baseline": library.get("baseline").render(),
            "top5": library.get("top-k").render({"k": 5}),
        }
        measured = _run(variants, address, truth, tmp_path)
    finally:
        stop_process(load, grace_seconds=10)
    assert measured["baseline"] == expected_series(variants["baseline"], truth)
    assert len(measured["baseline"]) == series * len(FAMILIES)
    assert measured["top5"] == expected_series(variants["top5"], truth)
    assert {dict(s)["process"] for s in measured["top5"]} == {f"proc-0-{i:05d}" for i in range(5)}
