"""Calling the real FastAPI app in-process (its real SQLite database), one request at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from phoenix_api.app import create_app
from phoenix_api.settings import ApiSettings
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import upgrade

__all__ = ["app_on_sqlite", "request"]


def request(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://phoenix") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(send())


@contextmanager
def app_on_sqlite(
    folder: Path, controller_settings: ControllerSettings | None = None
) -> Iterator[tuple[FastAPI, str]]:
    """The app on a migrated SQLite database (without its controller loop); yields the URL too.
    ``controller_settings``: the controller's (its Prometheus), else from the environment."""
    url = f"sqlite:///{folder / 'phoenix.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(ApiSettings(database_url=url, run_controller=False), controller_settings)
    try:
        yield app, url
    finally:
        app.state.services.queue.close()
        app.state.services.store.dispose()
