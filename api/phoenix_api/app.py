"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import phoenix_core
from phoenix_api.problems import install_problem_handlers
from phoenix_api.routers import health
from phoenix_api.settings import ApiSettings
from phoenix_core.store.database import make_engine
from phoenix_core.store.session import Store

__all__ = ["create_app"]


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app; the database is opened at start-up and closed at shutdown.

    Migrations are not run here: ``phoenix api serve`` brings the database to head before it
    starts serving, and ``/readyz`` reports a schema that is not at head.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store(make_engine(settings.effective_database_url))
        try:
            yield
        finally:
            app.state.store.dispose()

    app = FastAPI(
        title="Phoenix API",
        version=phoenix_core.__version__,
        description="Run collector-pipeline experiments and prove which pipeline to keep.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(health.router)
    return app
