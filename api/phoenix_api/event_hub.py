"""Fan-out of audit events and live notices to this process's WebSocket clients.

On PostgreSQL every committed event (its id) and live notice (the whole notice) is NOTIFYed,
and one LISTEN connection per API process hears them all, whichever process (API replica or
controller) wrote them. That connection lives on the server's event loop, not in a thread
(why: ``bench/README.md``). A live notice nobody subscribes to is dropped without being
parsed. On SQLite (one process) the store hands each transaction's events and notices over
once it commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from phoenix_core.store.database import is_postgresql
from phoenix_core.store.events import EVENTS_CHANNEL, LIVE_CHANNEL, EventRecord, LiveNotice
from phoenix_core.store.session import Store
from phoenix_core.store.tables import EventRow

__all__ = ["EventHub", "Subscription", "topics_of"]

log = logging.getLogger(__name__)


Message = EventRecord | LiveNotice


def topics_of(event: Message) -> list[str]:
    """The topics an event belongs to, most specific first."""
    topics = []
    if event.experiment_id is not None:
        topics.append(f"experiment:{event.experiment_id}")
    if event.host_id is not None:
        topics.append(f"host:{event.host_id}")
    topics.append("fleet")
    return topics


def envelope(event: Message, topic: str) -> dict[str, Any]:
    return {
        "type": event.type,
        "topic": topic,
        "data": event.model_dump(mode="json"),
        "timestamp": event.created_at.isoformat(),
    }


@dataclass(eq=False)
class Subscription:
    """One WebSocket client: its topics and the queue its sender drains."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    topics: set[str] = field(default_factory=set)
    last_sent: int = 0

    def offer(self, event: Message) -> None:
        for topic in topics_of(event):
            if topic in self.topics:
                message = envelope(event, topic)
                if _running_loop() is self.loop:
                    self.queue.put_nowait(message)
                else:  # from a worker thread (SQLite: the store publishes on commit)
                    self.loop.call_soon_threadsafe(self.queue.put_nowait, message)
                return


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EventHub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()  # publish() also runs in worker threads (SQLite)
        self._listener: asyncio.Task[None] | None = None
        self.watchers: list[Callable[[list[EventRecord]], None]] = []
        """Called with every batch of audit events this process hears (its own too); live
        notices go to WebSocket clients only."""
        self.missed_notifications: list[Callable[[], None]] = []
        """Called whenever notifications may have been missed: each time the LISTEN
        connection is (re)established, and when what was heard could not be delivered."""

    async def start(self) -> None:
        """On PostgreSQL, listen on this event loop (hearing every process, this one
        included); on SQLite, take this process's committed events from the store."""
        if is_postgresql(self.store.engine):
            self._listener = asyncio.create_task(self._listen(), name="phoenix-event-hub")
        else:
            self.store.event_subscribers.append(self.publish)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self.publish in self.store.event_subscribers:
            self.store.event_subscribers.remove(self.publish)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscription:
        subscription = Subscription(loop)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def publish(self, events: list[Message]) -> None:
        audit = [event for event in events if isinstance(event, EventRecord)]
        if audit:
            for watcher in self.watchers:
                watcher(audit)
        with self._lock:
            subscriptions = list(self._subscriptions)
        for event in events:
            for subscription in subscriptions:
                subscription.offer(event)

    async def _listen(self) -> None:
        conninfo = self.store.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        heard: asyncio.Queue[psycopg.Notify] = asyncio.Queue()  # delivered across reconnects
        delivery = asyncio.create_task(self._deliver(heard), name="phoenix-event-delivery")
        try:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        conninfo, autocommit=True
                    ) as connection:
                        await connection.execute(f"LISTEN {EVENTS_CHANNEL}")
                        await connection.execute(f"LISTEN {LIVE_CHANNEL}")
                        for callback in self.missed_notifications:
                            callback()
                        async for note in connection.notifies():
                            heard.put_nowait(note)
                except psycopg.Error as exc:
                    log.warning("event notifications lost (%s); reconnecting", exc)
                    await asyncio.sleep(1.0)
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery

    async def _deliver(self, heard: asyncio.Queue[psycopg.Notify]) -> None:
        """Publish what was heard, in the order heard: each as soon as it can be, and all that
        arrived meanwhile together (the audit events among them read in one query, off the
        loop), so a burst is caught up with in a few reads, not one read per event."""
        while True:
            notes = [await heard.get()]
            while not heard.empty():
                notes.append(heard.get_nowait())
            try:
                await self._publish_notes(notes)
            except (SQLAlchemyError, ValidationError) as exc:
                log.warning("%d notifications not delivered (%s)", len(notes), exc)
                for callback in self.missed_notifications:
                    callback()

    async def _publish_notes(self, notes: list[psycopg.Notify]) -> None:
        ids = [int(note.payload) for note in notes if note.channel == EVENTS_CHANNEL]
        events = {e.id: e for e in await asyncio.to_thread(self._load, ids)} if ids else {}
        listening = self.count() > 0  # else a live notice has nobody to tell: not even parsed
        messages: list[Message] = []
        for note in notes:
            if note.channel == EVENTS_CHANNEL:
                if (event := events.get(int(note.payload))) is not None:
                    messages.append(event)
            elif listening:
                messages.append(LiveNotice.model_validate_json(note.payload))
        if messages:
            self.publish(messages)

    def _load(self, ids: list[int]) -> list[EventRecord]:
        with self.store.session() as session:
            rows = session.scalars(
                select(EventRow).where(EventRow.id.in_(ids)).order_by(EventRow.id)
            )
            return [EventRecord.model_validate(row) for row in rows]
