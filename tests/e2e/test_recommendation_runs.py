"""A draft experiment made of a recommendation runs as it is, and delivers its forecast: the
shop (tests/e2e/test_recommendations.py works out what Phoenix recommends for it) served by an
exporter that the receiving Prometheus scrapes as production would; recommendations through the
real API; the draft of one started with only hosts and the sink given; the real agent runs real
collectors scraping the shop where its series came from, the receiver gets, from the candidate,
exactly the series the recommendation forecast (and, on otelcol, their sums), and the
experiment completes with the query guardrail finding every usage query's result unchanged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from phoenix_core.wire.labels import matchers
from support.otelcol import collector_binary
from support.shop import CPU, FIXTURES, MEMORY, REQUESTS, shop_series
from support.world import World, until

SHOP = '{job="shop", __name__=~"shop_.+"}'
DROPPED_BY_COLLECTORS = {"otel_scope_name", "otel_scope_version"}


@pytest.fixture(params=["prometheus-agent", "otelcol"])
def world(request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path) -> Iterator[World]:
    agent_env = {}
    if request.param == "otelcol":
        agent_env["PHOENIX_AGENT_OTELCOL_BINARY"] = str(collector_binary())
    with ExitStack() as stack:
        world = World(
            stack, postgres_url, tmp_path, shop_series(), agent_env=agent_env, scrape_job="shop"
        )
        world.collector = request.param
        yield world


def _recommend(world: World) -> list[dict[str, Any]]:
    for name, kind, file in (
        ("shop-rules", "rules", "shop-rules.yaml"),
        ("shop-dashboard", "dashboard", "shop-dashboard.json"),
        ("shop-queries", "queries", "shop-queries.txt"),
    ):
        body = {"name": name, "kind": kind, "content": (FIXTURES / file).read_text()}
        assert world.operator.post("/api/v1/usage-sources", json=body).status_code == 201
    count = f"count({SHOP})"
    until(lambda: [v for _, v in world.prometheus.query(count)] == [77.0], "the shop is scraped")
    time.sleep(1)
    end = datetime.now(UTC)  # after a scrape of the whole shop
    time.sleep(0.1)  # and in the past for Prometheus too
    params: dict[str, Any] = {
        "selector": SHOP,
        "start": (end - timedelta(minutes=5)).isoformat(),
        "end": end.isoformat(),
        "collector": world.collector,
        "critical_selectors": ['shop_queue_depth{queue="orders"}', "shop_license_expiry_seconds"],
        "top_k": 5,
    }
    answer = world.operator.get("/api/v1/recommendations", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["recommendations"])


def _arrived(world: World, experiment: str, variant: str) -> dict[frozenset[Any], float]:
    """The variant's shop series at the receiver now, without the labels collectors add, and
    their values."""
    query = f'{{__name__=~"shop_.+",job="shop",{matchers(experiment, variant)}}}'
    drop = {"phoenix_experiment_id", "phoenix_variant", "phoenix_host", "instance", "job"}
    return {
        frozenset((k, v) for k, v in labels.items() if k not in drop | DROPPED_BY_COLLECTORS): value
        for labels, value in world.prometheus.query(query)
    }


def test_a_draft_of_a_recommendation_runs_and_delivers_its_forecast(world: World) -> None:
    until(lambda: world.operator.get("/api/v1/hosts").json(), "the agent enrolled")
    recommendations = _recommend(world)
    # prometheus-agent: the top-5 of processes (62 -> 12); otelcol: requests' verb summed (8 -> 4)
    kind = "top_k" if world.collector == "prometheus-agent" else "drop_labels"
    chosen = next(r for r in recommendations if r["kind"] == kind)
    body = {
        "hosts": ["web-1"],
        "sink": {"url": world.prometheus.remote_write_url},
        "warmup_seconds": 1,
        "duration_seconds": 30,  # (30 s - the 4 s lookback) / 1 s + 1 = 27 points a variant
    }
    made = world.operator.post(f"/api/v1/recommendations/{chosen['id']}/experiment", json=body)
    assert made.status_code == 201, made.text
    experiment = made.json()["id"]
    assert world.operator.post(f"/api/v1/experiments/{experiment}/start").status_code == 202
    world.wait_started(experiment)

    expected_total = chosen["savings"]["total_series_after"]  # 27 and 73
    candidate: dict[frozenset[Any], float] = {}

    def delivered() -> bool:
        candidate.clear()
        candidate.update(_arrived(world, experiment, "recommended"))
        return len(_arrived(world, experiment, "baseline")) == 77 and len(candidate) == (
            expected_total
        )

    until(delivered, f"the baseline delivers 77 series and the candidate {expected_total}")
    per_metric = {m["metric"]: m["series_after"] for m in chosen["per_metric"]}
    for metric, series in per_metric.items():
        assert sum(1 for labels in candidate if ("__name__", metric) in labels) == series
    if kind == "top_k":
        kept = {dict(labels)["process"] for labels in candidate if ("__name__", CPU) in labels}
        assert kept == {"kubelet", "proc-00", "proc-01", "proc-02", "proc-03", "proc-04"}
        assert sum(1 for labels in candidate if ("__name__", MEMORY) in labels) == 6
    else:
        requests = {
            tuple(sorted(dict(labels).items())): value
            for labels, value in candidate.items()
            if ("__name__", REQUESTS) in labels
        }
        assert requests == {  # GET and POST of each pod and status, summed: 1 + 1
            (("__name__", REQUESTS), ("pod", pod), ("status", status)): 2.0
            for pod in ("web-1", "web-2")
            for status in ("200", "500")
        }

    # it ran as it was drafted, to a verdict; the guardrail evaluated the usage sources' queries
    # on both variants: the recommendation changed none of their results
    until(lambda: world.state_of(experiment) == "completed", "completed", timeout=240)
    rows = world.operator.get(f"/api/v1/experiments/{experiment}/kpis").json()["kpis"]
    preserved = {r["variant"]: r["value"] for r in rows if r["kpi"] == "queries_preserved"}
    assert preserved == {"baseline": 100.0, "recommended": 100.0}, preserved
