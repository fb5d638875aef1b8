"""Values, not just label sets: real collectors combine known series as Phoenix documents.

An exporter serves typed series whose values are fixed (counters, gauges, an untyped metric,
a histogram and a summary), several of which differ only in ``pod``. The OpenTelemetry
Collector Phoenix builds runs ``drop_labels`` (with protected series) and ``aggregate`` (sum,
max, mean); a Prometheus agent runs a ``drop_labels`` of a redundant label; all remote-write
to a real Prometheus, where each variant's latest values must equal what docs/pipelines.md says
(the forecast simulator's values: series that coincide are summed, or combined with the
aggregate's function), with the exceptions docs/pipeline-support.md states for otelcol: a
histogram is always summed (its buckets, sum and count), and a Summary keeps its labels.
Counters do not move, so their raw values are compared (their rates would all be 0). Values
must agree to a relative 1e-9 (sums of a few small numbers in float64, in another order).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pandas as pd
import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.ir import Pipeline, parse_pipeline
from phoenix_core.pipelines.otelcol import compile_otelcol
from phoenix_core.pipelines.prometheus_agent import compile_prometheus_agent
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.wire.labels import IDENTITY_LABELS, matchers
from support.exporter import exporter
from support.forecast_check import scrape_context
from support.otelcol import otelcol_process
from support.postgres import free_port
from support.prometheus import PrometheusServer, prometheus_agent, prometheus_server

Values = dict[frozenset[tuple[str, str]], float]

TOLERANCE = 1e-9
"""Relative: what float64 sums of a few small numbers may differ by when added in another order."""
SCOPE_LABELS = ("otel_scope_name", "otel_scope_version")
CRITICAL = 'req_total{endpoint="/b"}'

# family, type, [(labels, value)]; "_bucket", "_sum", "_count" series of histograms and
# summaries are written out (labels beyond pod and endpoint: le, quantile)
FAMILIES: list[tuple[str, str, list[tuple[str, dict[str, str], float]]]] = [
    (
        "req_total",
        "counter",
        [
            ("req_total", {"endpoint": "/a", "pod": "p1"}, 10),
            ("req_total", {"endpoint": "/a", "pod": "p2"}, 20),
            ("req_total", {"endpoint": "/a", "pod": "p3"}, 40),
            ("req_total", {"endpoint": "/b", "pod": "p1"}, 1),
            ("req_total", {"endpoint": "/b", "pod": "p2"}, 2),
        ],
    ),
    (
        "inflight",
        "gauge",
        [
            ("inflight", {"endpoint": "/a", "pod": "p1"}, 3),
            ("inflight", {"endpoint": "/a", "pod": "p2"}, 5),
            ("inflight", {"endpoint": "/b", "pod": "p1"}, 7),
        ],
    ),
    (
        "untyped_total_bytes",
        "untyped",
        [
            ("untyped_total_bytes", {"endpoint": "/a", "pod": "p1"}, 100),
            ("untyped_total_bytes", {"endpoint": "/a", "pod": "p2"}, 250),
        ],
    ),
    (
        "lat",
        "histogram",
        [
            ("lat_bucket", {"endpoint": "/a", "pod": "p1", "le": "0.1"}, 1),
            ("lat_bucket", {"endpoint": "/a", "pod": "p1", "le": "+Inf"}, 2),
            ("lat_sum", {"endpoint": "/a", "pod": "p1"}, 0.5),
            ("lat_count", {"endpoint": "/a", "pod": "p1"}, 2),
            ("lat_bucket", {"endpoint": "/a", "pod": "p2", "le": "0.1"}, 3),
            ("lat_bucket", {"endpoint": "/a", "pod": "p2", "le": "+Inf"}, 6),
            ("lat_sum", {"endpoint": "/a", "pod": "p2"}, 1.5),
            ("lat_count", {"endpoint": "/a", "pod": "p2"}, 6),
        ],
    ),
    (
        "rpc",
        "summary",
        [
            ("rpc", {"endpoint": "/a", "pod": "p1", "quantile": "0.5"}, 0.2),
            ("rpc_sum", {"endpoint": "/a", "pod": "p1"}, 4),
            ("rpc_count", {"endpoint": "/a", "pod": "p1"}, 8),
            ("rpc", {"endpoint": "/a", "pod": "p2", "quantile": "0.5"}, 0.4),
            ("rpc_sum", {"endpoint": "/a", "pod": "p2"}, 6),
            ("rpc_count", {"endpoint": "/a", "pod": "p2"}, 12),
        ],
    ),
]
BUILD = {"build": "v7"}
"""On every series: a label whose removal merges nothing."""


def _exposition() -> str:
    lines = []
    for family, kind, series in FAMILIES:
        lines.append(f"# TYPE {family} {kind}")
        for name, labels, value in series:
            pairs = ",".join(f'{k}="{v}"' for k, v in {**labels, **BUILD}.items())
            lines.append(f"{name}{{{pairs}}} {value}")
    return "\n".join(lines) + "\n"


def _inventory(address: str, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The series as the collectors see them (with job and instance), of the given types."""
    rows = [
        {"__name__": name, **labels, **BUILD, "__value__": float(value)}
        for _, kind, series in FAMILIES
        if kinds is None or kind in kinds
        for name, labels, value in series
    ]
    return pd.DataFrame(rows).fillna("").assign(job="loadsim", instance=address)


def _forecast(pipeline: Pipeline, inventory: pd.DataFrame) -> Values:
    result = forecast(pipeline, inventory).series
    labels = [c for c in result.columns if c != "__value__"]
    return {
        frozenset((k, str(row[k])) for k in labels if str(row[k]) != ""): float(row["__value__"])
        for row in result.to_dict("records")
    }


def _otelcol_expected(pipeline: Pipeline, address: str) -> Values:
    """The documented values on otelcol: the forecast's, but a Summary's series are left as
    they are (the forecast cannot tell them from counters: inventories carry no types)."""
    kinds = ("counter", "gauge", "untyped", "histogram")
    return {
        **_forecast(pipeline, _inventory(address, kinds)),
        **_forecast(parse_pipeline({"steps": []}), _inventory(address, ("summary",))),
    }


def _aggregate(fn: str) -> Pipeline:
    by = ["job", "instance", "endpoint"]
    return parse_pipeline({"steps": [{"aggregate": {"by": by, "fn": fn}}]})


DROP_POD = parse_pipeline(
    {"steps": [{"protect": {"selectors": [CRITICAL]}}, {"drop_labels": {"labels": ["pod"]}}]}
)
DROP_BUILD = parse_pipeline({"steps": [{"drop_labels": {"labels": ["build"]}}]})
OTELCOL = {
    "drop-pod": DROP_POD,
    "sum": _aggregate("sum"),
    "max": _aggregate("max"),
    "mean": _aggregate("mean"),
}


def _measured(server: PrometheusServer, variant: str) -> Values:
    """The variant's latest values at the receiver, without the labels collectors add."""
    skip = {*IDENTITY_LABELS, *SCOPE_LABELS}
    found = server.query(f'{{{matchers(variant=variant)},job="loadsim"}}')
    return {
        frozenset((k, v) for k, v in labels.items() if k not in skip): value
        for labels, value in found
        if labels["__name__"] not in SCRAPE_META_SERIES
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Values, Values]]]:
    """Each variant's (expected, measured) values, from one run of every collector."""
    with ExitStack() as stack:
        served = stack.enter_context(exporter(_exposition()))
        address = served.address
        server = stack.enter_context(prometheus_server())
        expected: dict[str, Values] = {}
        for name, pipeline in OTELCOL.items():
            expected[name] = _otelcol_expected(pipeline, address)
            ports = {"health": free_port(), "telemetry": free_port()}
            context = scrape_context(name, address, server.remote_write_url, ports, None)
            folder = tmp_path_factory.mktemp(name)
            text = compile_otelcol(pipeline, context).text
            stack.enter_context(otelcol_process(text, ports["health"], folder))
        reference = _inventory(address)
        expected["agent-drop-build"] = _forecast(DROP_BUILD, reference)
        port = free_port()
        context = scrape_context(
            "agent-drop-build", address, server.remote_write_url, {"http": port}, reference
        )
        config = compile_prometheus_agent(DROP_BUILD, context).text
        stack.enter_context(prometheus_agent(config, port))
        measured = _settled(server, expected)
        yield {name: (expected[name], measured[name]) for name in expected}


def _settled(server: PrometheusServer, expected: dict[str, Values]) -> dict[str, Values]:
    """Every variant's values once each delivered all its expected series (or after 60 s:
    what it has then)."""
    deadline = time.monotonic() + 60
    while True:
        measured = {variant: _measured(server, variant) for variant in expected}
        done = all(expected[v].keys() <= measured[v].keys() for v in expected)
        if done or time.monotonic() > deadline:
            return measured
        time.sleep(0.2)


def _agree(expected: Values, measured: Values) -> None:
    assert measured.keys() == expected.keys(), (
        f"missing {sorted(map(sorted, expected.keys() - measured.keys()))}, "
        f"extra {sorted(map(sorted, measured.keys() - expected.keys()))}"
    )
    wrong = {
        tuple(sorted(series)): (expected[series], measured[series])
        for series in expected
        if not math.isclose(measured[series], expected[series], rel_tol=TOLERANCE)
    }
    assert not wrong, f"(expected, measured) differ: {wrong}"


def _value(values: Values, **labels: str) -> float:
    (value,) = [v for series, v in values.items() if dict(series).items() >= labels.items()]
    return value


def test_otelcol_drop_labels_sums_the_series_that_collide(
    runs: dict[str, tuple[Values, Values]],
) -> None:
    expected, measured = runs["drop-pod"]
    _agree(expected, measured)
    # the forecast's sums, by hand: 10 + 20 + 40 requests on /a, 3 + 5 in flight, ...
    assert _value(measured, __name__="req_total", endpoint="/a") == 70
    assert _value(measured, __name__="inflight", endpoint="/a") == 8
    assert _value(measured, __name__="untyped_total_bytes") == 350
    assert _value(measured, __name__="lat_bucket", le="+Inf") == 8
    assert _value(measured, __name__="lat_sum") == 2
    # protected series keep their labels; a Summary too, with its values
    assert _value(measured, __name__="req_total", endpoint="/b", pod="p2") == 2
    assert _value(measured, __name__="rpc_sum", pod="p2") == 6


@pytest.mark.parametrize("fn", ["sum", "max", "mean"])
def test_otelcol_aggregate_combines_with_its_function(
    runs: dict[str, tuple[Values, Values]], fn: str
) -> None:
    expected, measured = runs[fn]
    _agree(expected, measured)
    combined = {"sum": 70.0, "max": 40.0, "mean": 70.0 / 3}[fn]
    assert math.isclose(
        _value(measured, __name__="req_total", endpoint="/a"), combined, rel_tol=TOLERANCE
    )
    assert _value(measured, __name__="lat_count") == 8  # histograms: always summed


def test_prometheus_agent_drops_only_labels_that_merge_nothing(
    runs: dict[str, tuple[Values, Values]],
) -> None:
    """A redundant label goes and every value stays; a label that tells series apart is
    refused before anything runs (relabelling cannot sum), naming the step and the count."""
    expected, measured = runs["agent-drop-build"]
    _agree(expected, measured)
    assert not any("build" in dict(series) for series in measured)
    reference = _inventory("127.0.0.1:1")
    context = scrape_context("v", "127.0.0.1:1", "http://127.0.0.1:1/w", {"http": 1}, reference)
    drop_pod = parse_pipeline({"steps": [{"drop_labels": {"labels": ["pod"]}}]})
    with pytest.raises(ValidationFailed) as refused:
        compile_prometheus_agent(drop_pod, context)
    assert (
        "steps.0: drop_labels cannot run on prometheus-agent: the reference inventory shows 12 "
        "series would collide once pod are removed"
    ) in str(refused.value)
