"""``/api/v1/ws``: live events for dashboards and ``phoenix experiment watch``.

Send ``{"type": "subscribe", "topic": "experiment:<id>" | "host:<id>" | "fleet", "after": N}``
to receive every event of the topic after event ``N`` (what a reconnecting client missed,
from the audit trail), then each new one as it happens, along with live notices (task updates,
heartbeats: not stored, so not replayed); ``{"type": "unsubscribe", "topic":
…}`` stops it. Messages are ``{type, topic, data, timestamp}``. Authenticate with an
``Authorization: Bearer`` header or a ``token`` query parameter (browsers cannot set headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from phoenix_api.deps import services
from phoenix_api.event_hub import Subscription, envelope
from phoenix_core.auth import Forbidden, Role
from phoenix_core.errors import PhoenixError
from phoenix_core.store.events import EventRecord, EventRepository
from phoenix_core.store.session import Store

router = APIRouter()

_USAGE = "send {type: subscribe|unsubscribe, topic: fleet|experiment:<id>|host:<id>, after?: N}"
_TOPIC = re.compile(r"^(fleet|experiment:[0-9a-f-]{36}|host:[0-9a-f-]{36})$")


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
    try:
        (await found.tokens(token)).require(Role.VIEWER)
    except PhoenixError as exc:  # accepted first, so that the client sees why it is closed
        await websocket.accept()
        code = 4403 if isinstance(exc, Forbidden) else 4401
        await websocket.close(code=code, reason=str(exc)[:120])
        return
    await websocket.accept()
    subscription = hub.subscribe(asyncio.get_running_loop())
    replayed: dict[str, int] = {}
    sender = asyncio.create_task(_send(websocket, subscription, replayed))
    try:
        while True:
            message: dict[str, Any] = await websocket.receive_json()
            await _handle(websocket, store, subscription, replayed, message)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscription)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _handle(
    websocket: WebSocket,
    store: Store,
    subscription: Subscription,
    replayed: dict[str, int],
    message: dict[str, Any],
) -> None:
    kind, topic = message.get("type"), str(message.get("topic", ""))
    if kind not in ("subscribe", "unsubscribe") or not _TOPIC.match(topic):
        await websocket.send_json(
            {
                "type": "error",
                "topic": topic or None,
                "data": {"detail": _USAGE},
            }
        )
        return
    if kind == "unsubscribe":
        subscription.topics.discard(topic)
        await websocket.send_json({"type": "unsubscribed", "topic": topic, "data": {}})
        return
    subscription.topics.add(topic)  # live events queue up while the history is read
    after = int(message.get("after") or 0)
    history = await run_in_threadpool(_history, store, topic, after)
    replayed[topic] = history[-1].id if history else after
    await websocket.send_json({"type": "subscribed", "topic": topic, "data": {"after": after}})
    for event in history:
        await websocket.send_json(envelope(event, topic))


async def _send(websocket: WebSocket, subscription: Subscription, replayed: dict[str, int]) -> None:
    while True:
        message = await subscription.queue.get()
        event_id = message["data"].get("id")  # live notices have none and are never replayed
        if event_id is not None and event_id <= replayed.get(message["topic"], 0):
            continue  # already sent from the history
        await websocket.send_json(message)
