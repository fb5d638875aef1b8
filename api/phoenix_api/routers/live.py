"""``/api/v1/ws``: live events for dashboards and ``phoenix experiment watch``.

Send ``{"type": "subscribe", "topic": "experiment:<id>" | "host:<id>" | "fleet", "after": N}``
to receive every event of the topic after event ``N`` (what a reconnecting client missed,
from the audit trail), then each new one as it happens, along with live notices (task updates,
heartbeats: not stored, so not replayed); ``{"type": "unsubscribe", "topic":
…}`` stops it. Messages are ``{type, topic, data, timestamp}``. Authenticate with an
``Authorization: Bearer`` header or a ``token`` query parameter (browsers cannot set headers).
The token is checked again before every message and at least every token-cache lifetime
(``SessionToken``): once it no longer holds, the socket is closed with 4401 (or 4403). When the
server shuts down, every session is closed with 1001 (going away).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from phoenix_api.authentication import SessionToken
from phoenix_api.deps import services
from phoenix_api.event_hub import Subscription, envelope
from phoenix_api.shutdown import GOING_AWAY
from phoenix_core.auth import Forbidden, Role
from phoenix_core.errors import PhoenixError
from phoenix_core.store.events import EventRecord, EventRepository
from phoenix_core.store.session import Store

router = APIRouter()

_USAGE = "send {type: subscribe|unsubscribe, topic: fleet|experiment:<id>|host:<id>, after?: N}"
_TOPIC = re.compile(r"^(fleet|experiment:[0-9a-f-]{36}|host:[0-9a-f-]{36})$")
MIN_RECHECK_SECONDS = 1.0
"""A session's token is checked at least every token-cache lifetime, but not more often than
this when the cache is off (``PHOENIX_TOKEN_CACHE_SECONDS=0``)."""


class _Ended(Exception):
    """The session was closed because its token no longer holds."""


class _Session:
    """One socket's sends, each made only while its token still holds; the first that finds
    it does not closes the socket with the authentication code instead (and no send after)."""

    def __init__(self, websocket: WebSocket, token: SessionToken) -> None:
        self.websocket = websocket
        self.token = token
        self._lock = asyncio.Lock()
        self._closed = False

    async def send(self, *messages: dict[str, Any]) -> None:
        """Send ``messages`` (one check covers them all: a history read at one moment)."""
        async with self._lock:
            if self._closed:
                raise _Ended
            try:
                await self.token.check()
            except PhoenixError as exc:
                await self._close(exc)
                raise _Ended from exc
            for message in messages:
                await self.websocket.send_json(message)

    async def end(self, exc: PhoenixError) -> None:
        async with self._lock:
            if not self._closed:
                await self._close(exc)

    async def going_away(self) -> None:
        """Close for the server's shutdown (the client may reconnect to another process)."""
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self.websocket.close(GOING_AWAY, "the server is shutting down")

    async def _close(self, exc: PhoenixError) -> None:
        self._closed = True
        await _refuse(self.websocket, exc)


async def _refuse(websocket: WebSocket, exc: PhoenixError) -> None:
    code = 4403 if isinstance(exc, Forbidden) else 4401
    await websocket.close(code=code, reason=str(exc)[:120])


def _history(store: Store, topic: str, after: int) -> list[EventRecord]:
    kind, _, key = topic.partition(":")
    with store.session() as session:
        events = EventRepository(session)
        if kind == "experiment":
            return list(events.list(experiment_id=uuid.UUID(key), after_id=after, limit=10_000))
        if kind == "host":
            return list(events.list(host_id=uuid.UUID(key), after_id=after, limit=10_000))
        return list(events.list(after_id=after, limit=10_000))


@router.websocket("/api/v1/ws")
async def live(websocket: WebSocket) -> None:
    found = services(websocket)
    store, hub = found.store, found.event_hub
    header = websocket.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else ""
    token = token or websocket.query_params.get("token", "")
    every = max(found.settings.token_cache_seconds, MIN_RECHECK_SECONDS)
    session = _Session(websocket, SessionToken(found.tokens, token, Role.VIEWER, every))
    await websocket.accept()  # before any refusal, so that the client sees why it is closed
    try:
        await session.token.check()
    except PhoenixError as exc:
        await _refuse(websocket, exc)
        return
    subscription = hub.subscribe(asyncio.get_running_loop())
    replayed = _Replayed()
    shutdown = asyncio.create_task(found.shutdown.wait())
    tasks = [
        asyncio.create_task(_receive(session, store, subscription, replayed)),
        asyncio.create_task(_send(session, subscription, replayed)),
        asyncio.create_task(session.token.watch()),
        shutdown,
    ]
    try:
        with found.shutdown.holding("live session"):
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if shutdown in done:
                await session.going_away()
            await _settle(session, done)
    finally:
        hub.unsubscribe(subscription)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _settle(session: _Session, done: set[asyncio.Task[None]]) -> None:
    """Close for a token that failed its watch; re-raise anything unexpected."""
    for task in done:
        exc = task.exception()
        if isinstance(exc, PhoenixError):
            await session.end(exc)
        elif exc is not None:
            raise exc


async def _receive(
    session: _Session, store: Store, subscription: Subscription, replayed: _Replayed
) -> None:
    with contextlib.suppress(WebSocketDisconnect, _Ended):
        while True:
            message: dict[str, Any] = await session.websocket.receive_json()
            await _handle(session, store, subscription, replayed, message)


async def _handle(
    session: _Session,
    store: Store,
    subscription: Subscription,
    replayed: _Replayed,
    message: dict[str, Any],
) -> None:
    kind, topic = message.get("type"), str(message.get("topic", ""))
    if kind not in ("subscribe", "unsubscribe") or not _TOPIC.match(topic):
        await session.send({"type": "error", "topic": topic or None, "data": {"detail": _USAGE}})
        return
    if kind == "unsubscribe":
        subscription.topics.discard(topic)
        await session.send({"type": "unsubscribed", "topic": topic, "data": {}})
        return
    replayed.deferring(topic)  # live messages wait while the history is read and sent
    subscription.topics.add(topic)
    after = int(message.get("after") or 0)
    history = await run_in_threadpool(_history, store, topic, after)
    last = history[-1].id if history else after
    await session.send(
        {"type": "subscribed", "topic": topic, "data": {"after": after}},
        *(envelope(event, topic) for event in history),
    )
    while batch := replayed.take(topic):  # what came in meanwhile, less what history held
        await session.send(*(m for m in batch if not _replayed_already(m, last)))
    replayed.acknowledged(topic, last)  # (no await since the last take: nothing slips by)


async def _send(session: _Session, subscription: Subscription, replayed: _Replayed) -> None:
    with contextlib.suppress(WebSocketDisconnect, _Ended):
        while True:
            message = await subscription.queue.get()
            if replayed.defer(message):
                continue  # its topic's "subscribed" and history go first
            if _replayed_already(message, replayed.last.get(message["topic"], 0)):
                continue  # already sent from the history
            await session.send(message)


def _replayed_already(message: dict[str, Any], last: int) -> bool:
    event_id = message["data"].get("id")  # live notices have none and are never replayed
    return event_id is not None and event_id <= last


class _Replayed:
    """Per topic, the last event its history sent; and the live messages held back while a
    subscription's history is read, so that "subscribed" comes first and nothing twice."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self._held: dict[str, list[dict[str, Any]]] = {}

    def deferring(self, topic: str) -> None:
        self._held.setdefault(topic, [])

    def defer(self, message: dict[str, Any]) -> bool:
        held = self._held.get(message["topic"])
        if held is None:
            return False
        held.append(message)
        return True

    def take(self, topic: str) -> list[dict[str, Any]]:
        held = self._held.get(topic, [])
        self._held[topic] = []
        return held

    def acknowledged(self, topic: str, last: int) -> None:
        self._held.pop(topic, None)
        self.last[topic] = last
