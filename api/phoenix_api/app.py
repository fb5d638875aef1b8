"""The FastAPI application factory."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio.to_thread
from fastapi import FastAPI

import phoenix_core
from phoenix_api.authentication import INVALIDATING_EVENTS, BearerAuthentication, PrincipalCache
from phoenix_api.deps import Services
from phoenix_api.event_hub import EventHub
from phoenix_api.limits import BodySizeLimit
from phoenix_api.observability import Observability, RequestTimer
from phoenix_api.problems import PROBLEM_RESPONSES, install_problem_handlers
from phoenix_api.routers import (
    agent,
    analysis,
    cardinality,
    experiments,
    fleet,
    health,
    identity,
    live,
    pipelines,
    price_books,
    recommendations,
    usage,
)
from phoenix_api.settings import ApiSettings
from phoenix_api.shutdown import Shutdown
from phoenix_core.controller import Controller
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.fast_path import FastPath, fast_path_for
from phoenix_core.queue import open_queue
from phoenix_core.settings import load_settings
from phoenix_core.store.database import is_postgresql, make_engine
from phoenix_core.store.events import EventRecord, LiveNotice
from phoenix_core.store.session import Store
from phoenix_core.use_cases.analysis import Analyses
from phoenix_core.use_cases.cardinality import Cardinality
from phoenix_core.use_cases.experiments import Experiments
from phoenix_core.use_cases.preflight import Preflight
from phoenix_core.use_cases.recommendations import Recommendations

__all__ = ["CONTROLLER_STOP_SECONDS", "create_app"]

log = logging.getLogger(__name__)

CONTROLLER_STOP_SECONDS = 5.0
"""How long shutdown waits for a controller pass under way to end; one that takes longer is
left behind (passes are level-triggered: the next leader does what it left undone)."""


def create_app(
    settings: ApiSettings, controller_settings: ControllerSettings | None = None
) -> FastAPI:
    """Build the app (its database engine and task queue are closed at shutdown).

    Migrations are not run here: ``phoenix api serve`` brings the database to head before it
    starts serving, and ``/readyz`` reports a schema that is not at head.
    """

    store = Store(make_engine(settings.effective_database_url))
    queue = open_queue(store.engine)

    event_hub = EventHub(store)
    fast_path = fast_path_for(store, queue, connections=settings.hot_path_connections)
    tokens = _tokens(settings, store, event_hub, fast_path)
    controller_settings = controller_settings or load_settings(ControllerSettings)
    analyses = Analyses.from_prometheus(
        store, controller_settings.prometheus_url, controller_settings.scrape_interval_seconds
    )
    controller = Controller.build(store, queue, controller_settings, analyses)

    stop = threading.Event()  # the controller's loop
    shutdown = Shutdown()  # begun by ``phoenix api serve`` as it stops (cli/serve.py)
    shutdown.on_begin += [queue.waiters.notify_all, stop.set]  # wake held long-polls; stop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await event_hub.start()
        await fast_path.open()
        await anyio.to_thread.run_sync(queue.listen)  # long-polls never wait for it
        loop = threading.Thread(
            target=controller.run, args=(stop,), name="phoenix-controller", daemon=True
        )
        if settings.run_controller:
            loop.start()
        where = "in this process" if settings.run_controller else "elsewhere"
        log.info("started (pid %d); the controller runs %s", os.getpid(), where)
        try:
            yield
        finally:
            stop.set()
            await _joined(loop)
            await event_hub.stop()
            await fast_path.close()
            queue.close()
            store.dispose()
            log.info("stopped")

    app = FastAPI(
        title="Phoenix API",
        version=phoenix_core.__version__,
        description="Run collector-pipeline experiments and prove which pipeline to keep.",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        # Phoenix's telemetry is its Prometheus /metrics. FastAPI's own OpenTelemetry, left
        # on, looks for configured providers (tracing, metrics, logs) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    experiment_cases = Experiments(
        store,
        controller.deployer,
        controller.reference,
        Preflight(controller_settings.remote_write_url, controller_settings.prometheus_url),
    )
    inventories = Cardinality.from_prometheus(controller_settings.prometheus_url)
    app.state.services = Services(
        settings=settings,
        store=store,
        queue=queue,
        fast_path=fast_path,
        controller_settings=controller.settings,
        experiments=experiment_cases,
        analyses=analyses,
        cardinality=inventories,
        recommendations=Recommendations.from_prometheus(
            store,
            inventories,
            experiment_cases,
            controller.library,
            prometheus_url=controller_settings.prometheus_url,
            retention=timedelta(days=settings.recommendations_retention_days),
        ),
        library=controller.library,
        event_hub=event_hub,
        tokens=tokens,  # (WebSocket sessions authenticate themselves: routers/live.py)
        shutdown=shutdown,
    )
    install_problem_handlers(app)
    observability = Observability(store, queue)
    # the last one added runs first: time everything, refuse oversized bodies, then check tokens
    app.add_middleware(BearerAuthentication, tokens=tokens)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTimer, latency=observability.latency)
    # Routes are matched in order, each tried costs every request behind it: what a fleet's
    # agents call all the time first (the agent router's own begin with heartbeat and poll).
    for module in (
        agent,
        experiments,
        analysis,
        cardinality,
        health,
        fleet,
        pipelines,
        price_books,
        usage,
        recommendations,
        identity,
        live,
    ):
        app.include_router(module.router)
    app.add_route("/metrics", observability.endpoint, include_in_schema=False)
    return app


async def _joined(controller: threading.Thread) -> None:
    """Wait for the controller's loop, told to stop, to end (``CONTROLLER_STOP_SECONDS``)."""
    if controller.is_alive():
        await anyio.to_thread.run_sync(controller.join, CONTROLLER_STOP_SECONDS)
    if controller.is_alive():
        log.warning("a controller pass still runs after %.0f s: left behind",
                    CONTROLLER_STOP_SECONDS)  # fmt: skip


def _tokens(
    settings: ApiSettings, store: Store, event_hub: EventHub, fast_path: FastPath
) -> PrincipalCache:
    """Token lookups, remembered on PostgreSQL only (where every revocation is heard)."""
    if not is_postgresql(store.engine):
        return PrincipalCache(fast_path.principal, ttl_seconds=0)
    cache = PrincipalCache(fast_path.principal, settings.token_cache_seconds)

    def forget_on_revocation(events: Sequence[EventRecord | LiveNotice]) -> None:
        if any(event.type in INVALIDATING_EVENTS for event in events):
            cache.clear()

    store.event_subscribers.append(forget_on_revocation)  # this process: before it answers
    event_hub.watchers.append(forget_on_revocation)  # every other process
    event_hub.missed_notifications.append(cache.clear)
    return cache
