"""The API process's event hub on PostgreSQL: a burst of events reaches WebSocket subscribers
whole, in order, read in a few queries (one query per event fell 20 s behind a fleet's
registrations), and a live notice nobody subscribes to is not even parsed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from phoenix_api.event_hub import EventHub
from phoenix_core.store.events import EventRepository, LiveNotice, announce
from phoenix_core.store.session import Store

BURST = 300
T = TypeVar("T")


async def _messages(queue: asyncio.Queue[dict[str, object]], count: int) -> list[dict]:
    return [await asyncio.wait_for(queue.get(), timeout=30) for _ in range(count)]


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    from phoenix_core.store.database import make_engine

    store = Store(make_engine(postgres_url))
    yield store
    store.dispose()


async def _listening(hub: EventHub) -> None:
    """Until the hub's LISTEN is in place: a notice written now is heard."""
    heard = asyncio.Event()
    hub.missed_notifications.append(heard.set)  # called once the connection listens
    await asyncio.wait_for(heard.wait(), timeout=30)
    hub.missed_notifications.remove(heard.set)


def _burst(store: Store, host: uuid.UUID) -> list[int]:
    with store.session() as session:
        events = EventRepository(session)
        return [events.append("probe", actor="test", host_id=host, data={"n": n}).id
                for n in range(BURST)]  # fmt: skip


def _recording(calls: list[Any], function: Callable[[Any], T]) -> Callable[[Any], T]:
    """``function``, each argument it is called with appended to ``calls`` first."""

    def recorded(argument: Any) -> T:
        calls.append(argument)
        return function(argument)

    return recorded


def test_a_burst_is_delivered_in_order_in_few_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = EventHub(store)
    reads: list[list[int]] = []  # the ids of each read
    monkeypatch.setattr(hub, "_load", _recording(reads, hub._load))
    host = uuid.uuid4()

    async def run() -> list[dict]:
        await hub.start()
        try:
            await _listening(hub)
            subscription = hub.subscribe(asyncio.get_running_loop())
            subscription.topics.add(f"host:{host}")
            ids = await asyncio.to_thread(_burst, store, host)
            messages = await _messages(subscription.queue, BURST)
            assert [m["data"]["id"] for m in messages] == ids  # type: ignore[index]
            return messages
        finally:
            await hub.stop()

    messages = asyncio.run(run())
    assert [m["data"]["data"] for m in messages] == [{"n": n} for n in range(BURST)]  # type: ignore[index]
    assert sum(map(len, reads)) == BURST
    assert len(reads) <= 10, f"{len(reads)} reads for {BURST} events"


def test_live_notices_reach_subscribers_and_are_skipped_without_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = EventHub(store)
    parsed: list[str] = []
    parse = _recording(parsed, LiveNotice.model_validate_json)
    monkeypatch.setattr(LiveNotice, "model_validate_json", parse)
    host = uuid.uuid4()

    def notice(n: int) -> None:
        with store.session() as session:
            announce(session, "heartbeat", host_id=host, data={"n": n})

    def marker() -> None:
        with store.session() as session:
            EventRepository(session).append("marker", actor="test")

    async def run() -> list[dict]:
        await hub.start()
        try:
            await _listening(hub)
            delivered = asyncio.Event()
            hub.watchers.append(
                lambda events: any(e.type == "marker" for e in events) and delivered.set()
            )
            for n in range(5):  # nobody subscribed: heard, not parsed
                await asyncio.to_thread(notice, n)
            await asyncio.to_thread(marker)  # delivered in order: after the five
            await asyncio.wait_for(delivered.wait(), timeout=30)
            subscription = hub.subscribe(asyncio.get_running_loop())
            subscription.topics.add("fleet")
            await asyncio.to_thread(notice, 99)
            return await _messages(subscription.queue, 1)
        finally:
            await hub.stop()

    [message] = asyncio.run(run())
    assert message["type"] == "heartbeat" and message["data"]["data"] == {"n": 99}  # type: ignore[index]
    assert len(parsed) == 1 and '"n":99' in parsed[0].replace(" ", "")
