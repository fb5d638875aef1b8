"""The audit trail: every state change appends one event row, with its actor."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phoenix_core.store.tables import EventRow
from phoenix_core.store.types import utcnow

__all__ = [
    "COMMITTED_EVENTS",
    "EVENTS_CHANNEL",
    "LIVE_CHANNEL",
    "EventRecord",
    "EventRepository",
    "LiveNotice",
    "announce",
    "describe",
    "log_committed",
    "notify_payload",
]

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "phoenix_events"
LIVE_CHANNEL = "phoenix_live"
COMMITTED_EVENTS = "phoenix_committed_events"
"""Session info key: events and notices of the transaction (published after the commit)."""
_NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more


class EventRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    type: str
    actor: str
    experiment_id: uuid.UUID | None
    host_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


class EventRepository:
    """Append and read events; rows are never changed (PostgreSQL enforces it with a trigger)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(
        self,
        type: str,
        *,
        actor: str,
        experiment_id: uuid.UUID | None = None,
        host_id: uuid.UUID | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventRecord:
        row = EventRow(
            type=type,
            actor=actor,
            experiment_id=experiment_id,
            host_id=host_id,
            data=data or {},
            created_at=utcnow(),
        )
        self._session.add(row)
        self._session.flush()
        record = EventRecord.model_validate(row)
        if self._session.get_bind().dialect.name == "postgresql":
            # delivered on commit to every API process listening (WebSocket fan-out)
            self._session.execute(select(func.pg_notify(EVENTS_CHANNEL, str(row.id))))
        # and to this process's store subscribers once committed
        self._session.info.setdefault(COMMITTED_EVENTS, []).append(record)
        return record

    def list(
        self,
        *,
        experiment_id: uuid.UUID | None = None,
        host_id: uuid.UUID | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[EventRecord]:
        """Events in the order they happened, after ``after_id`` (for resuming a stream)."""
        query = select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
        if experiment_id is not None:
            query = query.where(EventRow.experiment_id == experiment_id)
        if host_id is not None:
            query = query.where(EventRow.host_id == host_id)
        return [EventRecord.model_validate(row) for row in self._session.scalars(query)]


class LiveNotice(BaseModel):
    """A live-only message (a task update, a heartbeat): published to WebSocket clients once,
    never stored — the audit trail keeps state changes, not every report and heartbeat — so a
    reconnecting client gets the events it missed but not these."""

    model_config = ConfigDict(frozen=True)

    type: str
    experiment_id: uuid.UUID | None = None
    host_id: uuid.UUID | None = None
    data: dict[str, Any]
    created_at: datetime


def announce(
    session: Session,
    type: str,
    *,
    experiment_id: uuid.UUID | None = None,
    host_id: uuid.UUID | None = None,
    data: dict[str, Any],
) -> LiveNotice:
    """Publish a live notice when ``session`` commits (to every API process on PostgreSQL)."""
    notice = LiveNotice(
        type=type, experiment_id=experiment_id, host_id=host_id, data=data, created_at=utcnow()
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(LIVE_CHANNEL, notify_payload(notice))))
    session.info.setdefault(COMMITTED_EVENTS, []).append(notice)
    return notice


def notify_payload(notice: LiveNotice, *, reserve: int = 0) -> str:
    """``notice`` as a NOTIFY payload: whole, or (with ``reserve`` bytes to spare, it is too
    big for NOTIFY) its scalar fields and ``truncated``, never silently cut."""
    payload = notice.model_dump_json()
    if len(payload.encode()) > _NOTIFY_LIMIT - reserve:
        payload = notice.model_copy(
            update={"data": {"truncated": True, **_scalars(notice.data)}}
        ).model_dump_json()
    return payload


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None}


def describe(event: EventRecord | LiveNotice) -> str:
    """One line for a log: what happened, to what, what changed, by whom."""
    data = dict(event.data)
    words = [event.type + ":"]
    words += [f"{kind} {key}" for kind, key in (("experiment", event.experiment_id),
                                               ("host", event.host_id)) if key]  # fmt: skip
    if "from" in data and "to" in data:
        words.append(f"{data.pop('from')} -> {data.pop('to')}")
    details = ", ".join(f"{k}={_short(v)}" for k, v in data.items() if v not in (None, "", []))
    if details:
        words.append(f"({details})")
    if isinstance(event, EventRecord):
        words.append(f"by {event.actor}")
    return " ".join(words)


def log_committed(events: Sequence[EventRecord | LiveNotice]) -> None:
    """What a transaction of this process committed: each audit event at INFO (what the API
    and the controller did), live notices at DEBUG, heartbeats (one per agent every 10 s) not
    at all."""
    for event in events:
        extra = {"action": event.type, "experiment_id": event.experiment_id,
                 "host_id": event.host_id}  # fmt: skip
        if isinstance(event, EventRecord):
            log.info("%s", describe(event), extra=extra)
        elif event.type != "heartbeat" and log.isEnabledFor(logging.DEBUG):
            log.debug("%s", describe(event), extra=extra)


def _short(value: Any, limit: int = 200) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
