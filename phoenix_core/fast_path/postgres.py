"""The fast path on PostgreSQL: one statement each from ``phoenix_core/sql/fast_path.sql`` (a
heartbeat, a token lookup, a poll, a page of experiments) on an asyncio pool of autocommit
psycopg connections, no worker thread and no ORM; requests that arrive together share a
statement (``coalesce``). Why and how much: ``bench/README.md``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import RowFactory, namedtuple_row, tuple_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine

from phoenix_core.auth import Principal, hash_token, token_kind
from phoenix_core.errors import Conflict, DatabaseUnavailable, NotFound
from phoenix_core.fast_path.base import AgentWork
from phoenix_core.fast_path.coalesce import BatchedWrites, CoalescedReads
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.queue.model import claim_order, claimed_from_row
from phoenix_core.queue.postgres import SESSION_OPTIONS
from phoenix_core.queue.waiters import Waiters
from phoenix_core.sql import fast_json, statement
from phoenix_core.store.database import connection_lost, translate_error
from phoenix_core.store.events import LiveNotice, notify_payload
from phoenix_core.store.experiments import page_cursor
from phoenix_core.store.hosts import COLLECTING, HEARTBEAT, REPORTED_STATUSES, heartbeat_data
from phoenix_core.store.tokens import LAST_USED_RESOLUTION, token_holder
from phoenix_core.store.types import utcnow
from phoenix_core.wire import Heartbeat

__all__ = ["IDLE_RECHECK_SECONDS", "PostgresFastPath"]

IDLE_RECHECK_SECONDS = 120.0
"""How long a host found idle is believed idle without a look, notifications or not: the bound
on a task's delay should a notification be lost where the listener cannot tell."""


class PostgresFastPath:
    """``fast_path.sql`` on an asyncio pool of autocommit connections (opened with the app).

    A waiting poll of a host whose last poll here found nothing at all (no task pending, even
    for later, none to cancel) is answered without a statement while no notification for the
    host has been heard since (``waiters``: an enqueue, a cancellation, a task back from an
    expired lease, or the listener reconnecting; nothing is believed while it is down), and for
    at most ``IDLE_RECHECK_SECONDS``: an idle fleet's re-polls, every agent's every half
    minute, cost the database nothing.
    """

    def __init__(
        self,
        engine: Engine,
        waiters: Waiters,
        *,
        connections: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (monotonic seconds) times ``IDLE_RECHECK_SECONDS``; tests move their own."""
        self.engine = engine
        self.waiters = waiters
        self._clock = clock
        self._idle: dict[uuid.UUID, tuple[int, float]] = {}  # host: (stamp, time on clock)
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=connections,
            max_size=connections,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 5, "options": SESSION_OPTIONS},
            configure=_configure,
            name="phoenix-fast-path",
        )
        self._pages = CoalescedReads(self._page)  # dashboards refreshing the same page
        self._beats: BatchedWrites[uuid.UUID, tuple[uuid.UUID, str], int | None] = (
            BatchedWrites(  # a fleet's heartbeats: a statement per batch, two at a time
                self._write_heartbeats,
                split=lambda exc: not isinstance(exc, DatabaseUnavailable),
                in_flight=2,
            )
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def heartbeat(
        self, host_id: uuid.UUID, heartbeat: Heartbeat, *, lease_seconds: float,
        at: datetime | None = None,
    ) -> int:  # fmt: skip
        at = at or utcnow()
        notice = LiveNotice(
            type=HEARTBEAT, host_id=host_id, data=heartbeat_data("", heartbeat), created_at=at
        )  # the statement fills in the host's name: room left for the longest
        usage = heartbeat.resource_usage
        pipelines = [p.model_dump(mode="json") for p in heartbeat.active_pipelines]
        beat = fast_json.dumps(
            {
                "host_id": str(host_id),
                "status": heartbeat.status.value,
                "agent_version": heartbeat.agent_version,
                "at": at.isoformat(),
                "lease": lease_seconds,
                "pipelines": pipelines,
            }
        )  # and two parts that are JSON already, spliced in:
        beat = (
            f'{beat[:-1]},"resource_usage":{usage.model_dump_json() if usage else "null"},'
            f'"notice":{notify_payload(notice, reserve=255)}}}'
        )
        extended = await self._beats(host_id, (host_id, beat))
        if extended is None:
            found = await self._one(_hot("host_state"), {"host_id": host_id}, doing="find a host")
            if found is None:
                raise NotFound("host", host_id)
            raise Conflict(f"Host {host_id} is decommissioned.")
        return extended

    async def _write_heartbeats(self, beats: list[tuple[uuid.UUID, str]]) -> list[int | None]:
        """One statement for the batch: leases extended per host, None for a host not found."""
        parameters = {
            "beats": f"[{','.join(beat for _, beat in beats)}]",
            "reported": REPORTED_STATUSES,
            "collecting": COLLECTING,
        }
        rows = await self._all(_hot("heartbeats"), parameters, doing="record heartbeats")
        extended = {row[0]: int(row[1]) for row in rows}
        return [extended.get(host_id) for host_id, _ in beats]

    async def principal(self, token: str) -> Principal:
        kind = token_kind(token)
        now = utcnow()
        parameters = {
            "hash": hash_token(token),
            "kind": kind.value,
            "at": now,
            "resolution": LAST_USED_RESOLUTION.total_seconds(),
        }
        rows = await self._all(
            _hot("token"), parameters, doing="look a token up", row_factory=namedtuple_row
        )
        return token_holder(rows[0] if rows else None, kind, now)

    async def poll(
        self, host_id: uuid.UUID, *, limit: int, lease_seconds: float, waiting: bool = False
    ) -> AgentWork:  # fmt: skip
        if waiting and self._known_idle(host_id):
            return AgentWork([], [])
        stamp = self.waiters.stamp()  # before the statement: what it misses is heard after
        parameters = {"host_id": host_id, "limit": limit, "lease": lease_seconds, "at": None}
        rows = await self._all(_hot("poll"), parameters, doing="claim tasks")
        claimed = sorted(
            (claimed_from_row(host_id, row[:-2]) for row in rows if row[0] is not None),
            key=claim_order,
        )
        pending, cancellations = rows[0][-2:]
        if pending or cancellations:
            self._idle.pop(host_id, None)
        else:
            self._idle[host_id] = (stamp, self._clock())
        return AgentWork(claimed, list(cancellations))

    def _known_idle(self, host_id: uuid.UUID) -> bool:
        found = self._idle.get(host_id)
        if found is None:
            return False
        stamp, at = found
        return self._clock() - at < IDLE_RECHECK_SECONDS and not self.waiters.heard_since(
            host_id, stamp
        )

    async def experiment_page(
        self, *, state: ExperimentState | None, limit: int,
        before: tuple[datetime, uuid.UUID] | None,
    ) -> bytes:  # fmt: skip
        return await self._pages((state, limit, before))

    async def _page(
        self, key: tuple[ExperimentState | None, int, tuple[datetime, uuid.UUID] | None]
    ) -> bytes:
        state, limit, before = key
        parameters = {
            "state": state.value if state else None,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        }
        row = await self._one(_hot("experiment_page"), parameters, doing="list experiments")
        assert row is not None  # one row, always
        items, more, last_created_at, last_id = row
        cursor = fast_json.dumps(page_cursor(last_created_at, last_id) if more else None)
        return f'{{"items":{items},"next_cursor":{cursor}}}'.encode()

    async def _one(
        self, sql: str, parameters: Mapping[str, Any], *, doing: str
    ) -> tuple[Any, ...] | None:
        rows = await self._all(sql, parameters, doing=doing)
        return rows[0] if rows else None

    async def _all(
        self,
        sql: str,
        parameters: Mapping[str, Any],
        *,
        doing: str,
        row_factory: RowFactory[Any] = tuple_row,
    ) -> list[Any]:
        """One statement's rows. A connection found broken (the server restarted since it was
        opened) has the pool check all its idle ones, and the statement runs once more."""
        for attempt in (1, 2):
            try:
                async with self.pool.connection(timeout=5) as connection:
                    cursor = connection.cursor(row_factory=row_factory)
                    await cursor.execute(sql, parameters)
                    return await cursor.fetchall()
            except PoolTimeout as exc:
                raise translate_error(self.engine, exc, doing) from exc
            except psycopg.OperationalError as exc:
                if attempt == 2 or not connection_lost(exc):
                    raise translate_error(self.engine, exc, doing) from exc
                await self.pool.check()
            except psycopg.Error as exc:
                raise translate_error(self.engine, exc, doing) from exc
        raise AssertionError("unreachable")


def _hot(name: str) -> str:
    return statement("fast_path.sql", name)


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(fast_json.loads, connection)  # task payloads, as the queue reads them
