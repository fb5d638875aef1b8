"""``/metrics``: the API's own measurements in the Prometheus text format.

Request latency per route (a histogram), and, read at scrape time, the task queue's depth per
status, hosts online, long-polls waiting in this process, and Python's garbage collections by
generation (a full one pauses every request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from phoenix_core.queue import TaskQueue
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store

__all__ = ["Observability", "RequestTimer"]


class _StateCollector(Collector):
    def __init__(self, store: Store, queue: TaskQueue) -> None:
        self.store = store
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "phoenix_task_queue_depth", "Tasks in the queue by status.", labels=["status"]
        )
        for status, count in self.queue.stats().depth.items():
            depth.add_metric([status.value], count)
        yield depth
        with self.store.session() as session:
            online = HostRepository(session).count_online()
        yield GaugeMetricFamily(
            "phoenix_agents_online", "Hosts whose agent is not offline.", online
        )
        yield GaugeMetricFamily(
            "phoenix_long_polls_waiting",
            "Agent long-polls held in this API process: they found no work and wait to be "
            "woken by some.",
            self.queue.waiters.held(),
        )


class Observability:
    """Owns the registry (``RequestTimer`` fills ``latency``); ``endpoint`` serves it."""

    def __init__(self, store: Store, queue: TaskQueue) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "phoenix_api_request_duration_seconds",
            "Time to answer a request, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
        )
        self.registry.register(_StateCollector(store, queue))
        GCCollector(registry=self.registry)  # python_gc_collections_total by generation

    async def endpoint(self, _request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


class RequestTimer:
    """Times every HTTP request into the latency histogram, by the route's template."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
