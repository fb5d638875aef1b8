"""The real app with its lifespan (fast path, event hub, queue listener) on any database, in an
event loop of its own: for integration tests that run on PostgreSQL too, where the fast path's
pool belongs to the app's loop (``support.asgi.request`` starts a new loop for each request and
no lifespan, which only SQLite tolerates)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from phoenix_api.app import create_app
from phoenix_api.settings import ApiSettings

__all__ = ["AppClient", "app_client"]

T = TypeVar("T")


class AppClient:
    """Requests to the started app, one at a time, from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        self._loop = loop
        self._client = client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return _run(self._loop, self._client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@contextmanager
def app_client(database_url: str) -> Iterator[AppClient]:
    """The app on ``database_url`` (at head; without its controller loop), started, and on
    leaving stopped, as ``phoenix api serve`` does."""
    app = create_app(ApiSettings(database_url=database_url, run_controller=False))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-client", daemon=True)
    thread.start()
    lifespan = app.router.lifespan_context(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://phoenix")
    try:
        _run(loop, lifespan.__aenter__())
        try:
            yield AppClient(loop, client)
        finally:
            _run(loop, client.aclose())
            _run(loop, lifespan.__aexit__(None, None, None))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
