"""Checking a collector's output against the forecast: a fixed, known series set for an
exporter to serve, the series the forecast says arrive, and the series that did arrive (waited
for until they settle)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire.labels import IDENTITY_LABELS, matchers

__all__ = [
    "CRITICAL",
    "expected_series",
    "inventory",
    "measured_series",
    "template_variants",
    "wait_for",
]

Series = frozenset[tuple[str, str]]

CRITICAL = ['{process="kubelet"}', 'process_open_fds{process="postgres", pid!="999"}']


def inventory() -> pd.DataFrame:
    """A fixed, known series set: processes with pids, HTTP traffic, queues; one constant label."""
    rng = np.random.default_rng(3)
    rows: list[dict[str, Any]] = []
    processes = ["kubelet", "postgres", "nginx", *[f"worker-{i}" for i in range(12)]]
    for n, process in enumerate(processes):
        for pid in (100 + n, 200 + n):
            rows.append(
                {
                    "__name__": "process_cpu_seconds_total",
                    "process": process,
                    "pid": str(pid),
                    "__value__": float(rng.integers(0, 500)) / 10,
                }
            )
            rows.append(
                {
                    "__name__": "process_open_fds",
                    "process": process,
                    "pid": str(pid),
                    "__value__": float(rng.integers(1, 300)),
                }
            )
    rows.append(
        {"__name__": "process_open_fds", "process": "postgres", "pid": "999", "__value__": 7.0}
    )
    for endpoint in ("/api/a", "/api/b", "/debug/pprof", "/healthz"):
        for status in ("200", "500"):
            for user in range(6):
                rows.append(
                    {
                        "__name__": "http_requests_total",
                        "endpoint": endpoint,
                        "status": status,
                        "user_id": f"u{user}",
                        "__value__": float(rng.integers(0, 1000)),
                    }
                )
    for queue in range(10):
        rows.append(
            {"__name__": "app_queue_depth", "queue": f"q{queue}", "__value__": float(queue % 4)}
        )
    frame = pd.DataFrame(rows).fillna("")
    frame["build"] = "v1.2.3"  # on every series, so dropping it collides nothing
    return frame


def template_variants() -> dict[str, Pipeline]:
    """The built-in templates as variants over :func:`inventory` (each reduces it but
    drop-labels, whose label is redundant), for the collectors that run them all."""
    library = TemplateLibrary.builtin()
    return {
        "baseline": library.get("baseline").render(),
        "topk": library.get("top-k").render({"k": 4, "critical": CRITICAL}),
        "topk-plain": library.get("top-k").render({"k": 3, "apply_to": "process_.*"}),
        "adaptive": library.get("adaptive-filter").render(
            {"metric": "app_queue_depth", "threshold": 2}
        ),
        "hybrid": library.get("hybrid").render({"k": 5, "threshold": 10.0, "critical": CRITICAL}),
        "droplabels": library.get("drop-labels").render({"labels": ["build"]}),
    }


def scrape_context(
    variant: str,
    address: str,
    remote_write_url: str,
    ports: dict[str, int],
    reference: pd.DataFrame,
) -> CompileContext:
    """What a test collector of ``variant`` compiles against: one target (``address``, job
    ``loadsim``), scrapes and remote-write deadlines of 1 s, ``reference`` as measured."""
    return CompileContext(
        experiment_id="exp-1",
        variant=variant,
        host="test-host",
        targets=[ScrapeTarget("loadsim", address)],
        remote_write_url=remote_write_url,
        ports=ports,
        scrape_interval_seconds=1,
        reference=reference,
        remote_write_deadline_seconds=1,
    )


def expected_series(pipeline: Pipeline, inventory: pd.DataFrame) -> set[Series]:
    result = forecast(pipeline, inventory).series
    labels = [c for c in result.columns if c != "__value__"]
    return {
        frozenset((k, str(v)) for k, v in row.items() if str(v) != "")
        for row in result[labels].to_dict("records")
    }


def measured_series(series: list[dict[str, str]], added: Iterable[str] = ()) -> set[Series]:
    """The series that arrived, without the scrape's own (``up`` ...) and without the labels
    the collector adds to every series (Phoenix's identity labels and ``added``)."""
    skip = {*IDENTITY_LABELS, *added}
    return {
        frozenset((k, v) for k, v in labels.items() if k not in skip)
        for labels in series
        if labels["__name__"] not in SCRAPE_META_SERIES
    }


def _loadsim(variant: str) -> str:
    return f'{{{matchers(variant=variant)},job="loadsim"}}'


def wait_for(
    server: Any, expected: dict[str, set[Any]], added: Iterable[str] = ()
) -> dict[str, set[Any]]:
    """Poll until every variant shows its expected series, then twice more (nothing extra)."""
    deadline = time.monotonic() + 90
    measured: dict[str, set[Any]] = {}
    settled = 0
    while time.monotonic() < deadline and settled < 3:
        measured = {
            name: measured_series(
                server.series(f'{{{matchers(variant=name)},job="loadsim"}}'), added
            )
            for name in expected
        }
        settled = settled + 1 if measured == expected else 0
        time.sleep(1.5)
    return measured
