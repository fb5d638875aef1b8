"""Every pipeline the prometheus-agent compiler accepts, run by real Prometheus agents scraping a
known set of series and remote-writing to a real Prometheus: the series that arrive are exactly
the forecast's, label for label."""

from __future__ import annotations

from typing import Any

import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.compiler import CompileContext
from phoenix_core.pipelines.ir import Pipeline, parse_pipeline
from phoenix_core.pipelines.prometheus_agent import compile_prometheus_agent
from phoenix_core.pipelines.templates import TemplateLibrary
from support.exporter import static_exporter
from support.forecast_check import (
    expected_series,
    inventory,
    scrape_context,
    template_variants,
    wait_for,
)
from support.postgres import free_port
from support.prometheus import prometheus_agent, prometheus_server


def _variants() -> dict[str, Pipeline]:
    return {
        **template_variants(),
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


def test_aggregate_is_refused_for_prometheus_agent() -> None:
    pipeline = TemplateLibrary.builtin().get("aggregate").render()
    context = CompileContext("e", "v", "h", [], "http://127.0.0.1:1/api/v1/write", {"http": 1})
    with pytest.raises(
        ValidationFailed, match=r"steps\.0: aggregate cannot run on prometheus-agent"
    ):
        compile_prometheus_agent(pipeline, context)


def test_real_agents_emit_exactly_the_forecast() -> None:
    source = inventory()
    variants = _variants()
    with prometheus_server() as server, static_exporter(source) as address:
        # what the agents see at relabelling time: the exporter's series plus job and instance
        reference = source.assign(job="loadsim", instance=address)
        expected = {name: expected_series(p, reference) for name, p in variants.items()}
        assert len(expected["baseline"]) == len(source)
        reducing = set(variants) - {"baseline", "droplabels"}  # 'build' is redundant: same count
        assert all(len(expected[name]) < len(source) for name in reducing)
        assert not any(("build", "v1.2.3") in labels for labels in expected["droplabels"])
        configs = {}
        for name, pipeline in variants.items():
            port = free_port()
            ports = {"http": port}
            context = scrape_context(name, address, server.remote_write_url, ports, reference)
            configs[name] = (port, compile_prometheus_agent(pipeline, context).text)
        with _agents(configs):
            measured = wait_for(server, expected)
    for name in variants:
        assert measured[name] == expected[name], name


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
