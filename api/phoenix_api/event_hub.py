"""Fan-out of audit events and live notices to this process's WebSocket clients.

On PostgreSQL every committed event (its id) and live notice (the whole notice) is NOTIFYed,
and one LISTEN connection per API process hears them all, whichever process (API replica or
controller) wrote them. On SQLite (one process) the store hands each transaction's events and
notices over once it commits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import select

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
                self.loop.call_soon_threadsafe(self.queue.put_nowait, envelope(event, topic))
                return


class EventHub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watchers: list[Callable[[list[Message]], None]] = []
        """Called with every batch of events and notices this process hears (its own too)."""
        self.reconnected: list[Callable[[], None]] = []
        """Called each time the LISTEN connection is (re)established (it may have missed
        notifications before)."""

    def start(self) -> None:
        """On PostgreSQL, listen (hearing every process, this one included); on SQLite, take
        this process's committed events from the store."""
        if is_postgresql(self.store.engine):
            self._thread = threading.Thread(
                target=self._listen, name="phoenix-event-hub", daemon=True
            )
            self._thread.start()
        else:
            self.store.event_subscribers.append(self.publish)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
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
        for watcher in self.watchers:
            watcher(events)
        with self._lock:
            subscriptions = list(self._subscriptions)
        for event in events:
            for subscription in subscriptions:
                subscription.offer(event)

    def _listen(self) -> None:
        conninfo = self.store.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {EVENTS_CHANNEL}")
                    connection.execute(f"LISTEN {LIVE_CHANNEL}")
                    for callback in self.reconnected:
                        callback()
                    while not self._stop.is_set():
                        # each as it arrives (the generator runs until the timeout: batching
                        # over it would delay delivery by up to that long)
                        for note in connection.notifies(timeout=0.5):
                            if note.channel == LIVE_CHANNEL:
                                self.publish([LiveNotice.model_validate_json(note.payload)])
                            else:
                                self.publish(list(self._load([int(note.payload)])))
            except psycopg.Error as exc:
                log.warning("event notifications lost (%s); reconnecting", exc)
                self._stop.wait(1.0)

    def _load(self, ids: list[int]) -> list[EventRecord]:
        with self.store.session() as session:
            rows = session.scalars(
                select(EventRow).where(EventRow.id.in_(ids)).order_by(EventRow.id)
            )
            return [EventRecord.model_validate(row) for row in rows]
