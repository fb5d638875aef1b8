"""Every pipeline the prometheus-agent compiler accepts, run by real Prometheus agents scraping a
known set of series and remote-writing to a real Prometheus: the series that arrive are exactly
the forecast's, label for label."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.compiler import CompileContext, ScrapeTarget
from phoenix_core.pipelines.prometheus_agent import compile_prometheus_agent
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.wire.pipeline import Pipeline, parse_pipeline
from support.exporter import static_exporter
from support.postgres import free_port
from support.prometheus import prometheus_agent, prometheus_server

CRITICAL = ['{process="kubelet"}', 'process_open_fds{process="postgres", pid!="999"}']


def _inventory() -> pd.DataFrame:
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


def _variants() -> dict[str, Pipeline]:
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
        "custom": parse_pipeline(
            {
                "steps": [
                    {
                        "protect": {
                            "selectors": [
                                'http_requests_total{endpoint=~"/debug/.*", status!="200"}'
                            ]
                        }
                    },
                    {
                        "drop_series": {
                            "label": "endpoint",
                            "regex": "/debug/.*|/healthz",
                            "metrics": "http_.*",
                        }
                    },
                    {
                        "sample": {
                            "hash_label": "user_id",
                            "keep_fraction": 0.5,
                            "metrics": "http_requests_total",
                        }
                    },
                    {"keep_series": {"label": "pid", "regex": "1.*|", "metrics": "process_.*"}},
                    {"drop_labels": {"labels": ["build"], "metrics": "app_.*"}},
                    {"keep_metrics": {"regex": "process_.*|http_.*|app_.*"}},
                ]
            }
        ),
    }


def _expected(pipeline: Pipeline, inventory: pd.DataFrame) -> set[frozenset[tuple[str, str]]]:
    result = forecast(pipeline, inventory).series
    labels = [c for c in result.columns if c != "__value__"]
    return {
        frozenset((k, str(v)) for k, v in row.items() if str(v) != "")
        for row in result[labels].to_dict("records")
    }


def _measured(series: list[dict[str, str]]) -> set[frozenset[tuple[str, str]]]:
    skip = {"experiment_id", "variant", "host"}
    return {
        frozenset((k, v) for k, v in labels.items() if k not in skip)
        for labels in series
        if labels["__name__"] not in SCRAPE_META_SERIES
    }


def test_aggregate_is_refused_for_prometheus_agent() -> None:
    pipeline = TemplateLibrary.builtin().get("aggregate").render()
    context = CompileContext("e", "v", "h", [], "http://127.0.0.1:1/api/v1/write", {"http": 1})
    with pytest.raises(
        ValidationFailed, match=r"steps\.0: aggregate cannot run on prometheus-agent"
    ):
        compile_prometheus_agent(pipeline, context)


def test_real_agents_emit_exactly_the_forecast() -> None:
    source = _inventory()
    variants = _variants()
    with prometheus_server() as server, static_exporter(source) as address:
        # what the agents see at relabelling time: the exporter's series plus job and instance
        reference = source.assign(job="loadsim", instance=address)
        expected = {name: _expected(p, reference) for name, p in variants.items()}
        assert len(expected["baseline"]) == len(source)
        reducing = set(variants) - {"baseline", "droplabels"}  # 'build' is redundant: same count
        assert all(len(expected[name]) < len(source) for name in reducing)
        assert not any(("build", "v1.2.3") in labels for labels in expected["droplabels"])
        configs = {}
        for name, pipeline in variants.items():
            port = free_port()
            context = CompileContext(
                experiment_id="exp-1",
                variant=name,
                host="test-host",
                targets=[ScrapeTarget("loadsim", address)],
                remote_write_url=server.remote_write_url,
                ports={"http": port},
                scrape_interval_seconds=1,
                reference=reference,
                remote_write_deadline_seconds=1,
            )
            configs[name] = (port, compile_prometheus_agent(pipeline, context).text)
        with _agents(configs):
            measured = _wait_for(server, expected)
    for name in variants:
        assert measured[name] == expected[name], name


def _wait_for(server: Any, expected: dict[str, set[Any]]) -> dict[str, set[Any]]:
    """Poll until every variant shows its expected series, then twice more (nothing extra)."""
    deadline = time.monotonic() + 90
    measured: dict[str, set[Any]] = {}
    settled = 0
    while time.monotonic() < deadline and settled < 3:
        measured = {
            name: _measured(server.series(f'{{variant="{name}",job="loadsim"}}'))
            for name in expected
        }
        settled = settled + 1 if measured == expected else 0
        time.sleep(1.5)
    return measured


class _agents:
    def __init__(self, configs: dict[str, tuple[int, str]]) -> None:
        self.configs = configs
        self.stack: list[Any] = []

    def __enter__(self) -> None:
        for port, text in self.configs.values():
            context = prometheus_agent(text, port)
            context.__enter__()
            self.stack.append(context)

    def __exit__(self, *exc: object) -> None:
        while self.stack:
            self.stack.pop().__exit__(None, None, None)
