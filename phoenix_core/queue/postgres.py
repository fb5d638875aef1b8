"""The PostgreSQL task queue: production, any number of API processes on one database.

Its SQL lives in ``phoenix_core/sql/queue.sql`` (one named, commented query per operation) and
runs on the engine's pooled psycopg connections without an ORM in between. Enqueues ``NOTIFY``
the hosts' channel in the same transaction; one ``LISTEN`` connection per process (a daemon
thread) wakes the local waiters, so a held long-poll holds neither a thread of its own nor a
connection.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine

from phoenix_core.errors import Conflict, InvalidTransition, NotFound, PhoenixError
from phoenix_core.queue.base import QueueSettings, TaskQueue
from phoenix_core.queue.model import (
    REPORTABLE,
    ClaimedTask,
    NewTask,
    QueueStats,
    ReapResult,
    Report,
    ReportResult,
    Task,
    claim_order,
    claimed_from_row,
    judge_report,
    task_from_row,
)
from phoenix_core.sql import fast_json, statement
from phoenix_core.store.database import translate_error
from phoenix_core.wire.tasks import TaskStatus

__all__ = ["CHANNEL", "PostgresTaskQueue", "query"]

log = logging.getLogger(__name__)

CHANNEL = "phoenix_tasks"
# Prepared statements keep their generic plans (index scans by host or id): bench/README.md.
SESSION_OPTIONS = "-c plan_cache_mode=force_generic_plan"

_REPORTABLE = frozenset().union(*REPORTABLE.values())


def query(name: str) -> str:
    """The named query from ``queue.sql``."""
    return statement("queue.sql", name)


class PostgresTaskQueue(TaskQueue):
    """Each thread keeps one autocommit connection: every hot operation is one statement, so
    one round trip (no BEGIN/COMMIT, no pool ping); a broken connection is replaced on the
    next call."""

    def __init__(self, engine: Engine, settings: QueueSettings | None = None) -> None:
        super().__init__(settings)
        self.engine = engine
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Any]] = []
        self._opened_lock = threading.Lock()
        self._listener: _Listener | None = None
        self._listener_lock = threading.Lock()
        self.waiters.listening = False  # until the listener has connected

    def _connection(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=5, options=SESSION_OPTIONS
            )
            set_json_loads(fast_json.loads, connection)
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """A cursor on this thread's connection, rows as dictionaries; driver errors translated."""
        with self._translated(), self._connection().cursor(row_factory=dict_row) as cursor:
            yield cursor

    @contextmanager
    def _tuple_cursor(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """As ``_cursor``, rows as plain tuples (the claim and report hot paths)."""
        with self._translated(), self._connection().cursor() as cursor:
            yield cursor

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.ForeignKeyViolation as exc:
            raise _missing_reference(exc) from exc
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                self._discard()
            raise translate_error(self.engine, exc, "A task queue operation") from exc

    def _discard(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def enqueue(self, tasks: Sequence[NewTask]) -> list[int]:
        if not tasks:
            return []
        params = {
            "tasks": fast_json.dumps(
                [
                    {
                        "host_id": str(t.host_id),
                        "experiment_id": str(t.experiment_id) if t.experiment_id else None,
                        "type": t.type.value,
                        "action": t.action.value,
                        "payload": t.payload,
                        "priority": t.priority,
                        "max_attempts": t.max_attempts,
                        "idempotency_key": t.idempotency_key,
                        "not_before": t.not_before.isoformat() if t.not_before else None,
                    }
                    for t in tasks
                ]
            )
        }
        with self._cursor() as cursor:
            inserted = cursor.execute(query("enqueue"), params).fetchall()
            if len(inserted) == len(tasks):
                return [row["id"] for row in inserted]
            keys = [t.idempotency_key for t in tasks if t.idempotency_key is not None]
            existing = {
                row["idempotency_key"]: row["id"]
                for row in cursor.execute(query("by_idempotency_keys"), {"keys": keys})
            }
        unkeyed = iter(row["id"] for row in inserted if row["idempotency_key"] is None)
        return [existing[t.idempotency_key] if t.idempotency_key else next(unkeyed) for t in tasks]

    def claim(
        self,
        host_id: uuid.UUID,
        *,
        limit: int = 1,
        lease_seconds: float = 60.0,
        at: datetime | None = None,
    ) -> list[ClaimedTask]:
        params = {"host_id": host_id, "limit": limit, "lease": lease_seconds, "at": at}
        with self._tuple_cursor() as cursor:
            rows = cursor.execute(query("claim"), params).fetchall()
        claimed = [claimed_from_row(host_id, row) for row in rows]
        return sorted(claimed, key=claim_order)

    def report(self, host_id: uuid.UUID, reports: Sequence[Report]) -> ReportResult:
        refused: list[tuple[int, PhoenixError]] = []
        valid = []
        for report in reports:
            if report.status in _REPORTABLE:
                valid.append(report)
            else:
                refused.append((report.task_id, InvalidTransition("task", "held", report.status)))
        params = {
            "host_id": host_id,
            "reports": fast_json.dumps(
                [
                    {
                        "id": r.task_id,
                        "attempt": r.attempt,
                        "status": r.status.value,
                        "result": r.result,
                        "error": r.error_message,
                    }
                    for r in valid
                ]
            ),
        }
        with self._tuple_cursor() as cursor:
            not_applied = cursor.execute(query("report"), params).fetchall()
        by_id = {r.task_id: r for r in valid}
        for task_id, holder, attempt, status, cancel_requested in not_applied:
            report = by_id[task_id]
            try:
                changes = judge_report(
                    report,
                    host_id,
                    holder=holder,
                    attempt=attempt or 0,
                    status=TaskStatus(status) if status else TaskStatus.PENDING,
                    cancel_requested=bool(cancel_requested),
                )
                if changes:  # it would have applied: someone changed the task meanwhile
                    raise Conflict(f"Task {task_id} changed while reporting; report again.")
            except PhoenixError as exc:
                refused.append((task_id, exc))
        applied = len(valid) - len(not_applied)
        if refused:
            order = {r.task_id: i for i, r in enumerate(reports)}
            refused.sort(key=lambda item: order[item[0]])
        return ReportResult(applied, refused)

    def heartbeat(
        self, host_id: uuid.UUID, *, lease_seconds: float = 60.0, at: datetime | None = None
    ) -> int:
        with self._cursor() as cursor:
            cursor.execute(
                query("heartbeat"), {"host_id": host_id, "lease": lease_seconds, "at": at}
            )
            return int(cursor.rowcount)

    def cancel(self, task_id: int) -> Task:
        with self._cursor() as cursor:
            rows = cursor.execute(
                query("cancel"), {"id": task_id, "experiment_id": None}
            ).fetchall()
        return task_from_row(rows[0]) if rows else self.get(task_id)

    def cancel_experiment(self, experiment_id: uuid.UUID) -> list[Task]:
        with self._cursor() as cursor:
            rows = cursor.execute(query("cancel"), {"id": None, "experiment_id": experiment_id})
            return [task_from_row(r) for r in rows]

    def cancellations(self, host_id: uuid.UUID) -> list[Task]:
        with self._cursor() as cursor:
            return [
                task_from_row(r)
                for r in cursor.execute(query("cancellations"), {"host_id": host_id})
            ]

    def reap(self, *, at: datetime | None = None) -> ReapResult:
        params = {
            "at": at,
            "base": self.settings.backoff_base_seconds,
            "cap": self.settings.backoff_cap_seconds,
        }
        with self._cursor() as cursor:
            tasks = [task_from_row(r) for r in cursor.execute(query("reap"), params)]
        result = ReapResult()
        buckets = {
            TaskStatus.PENDING: result.requeued,
            TaskStatus.DEAD: result.dead,
            TaskStatus.CANCELLED: result.cancelled,
        }
        for task in sorted(tasks, key=lambda t: t.id):
            buckets[task.status].append(task)
        return result

    def purge_finished(self, older_than: timedelta, *, at: datetime | None = None) -> int:
        with self._cursor() as cursor:
            cursor.execute(query("purge_finished"), {"age": older_than.total_seconds(), "at": at})
            return int(cursor.rowcount)

    def stats(self, *, at: datetime | None = None) -> QueueStats:
        with self._cursor() as cursor:
            depth = {row["status"]: row["n"] for row in cursor.execute(query("depth"))}
            hosts = cursor.execute(query("pending_per_host")).fetchall()
            now = at or cursor.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        oldest = min((row["oldest"] for row in hosts), default=None)
        return QueueStats(
            depth={status: int(depth.get(status.value, 0)) for status in TaskStatus},
            oldest_pending_seconds=(now - oldest).total_seconds() if oldest else None,
            pending_per_host={row["host_id"]: int(row["n"]) for row in hosts},
        )

    def get(self, task_id: int) -> Task:
        with self._cursor() as cursor:
            row = cursor.execute(query("get"), {"id": task_id}).fetchone()
        if row is None:
            raise NotFound("task", task_id)
        return task_from_row(row)

    def tasks_of(self, experiment_id: uuid.UUID) -> list[Task]:
        with self._cursor() as cursor:
            rows = cursor.execute(query("tasks_of"), {"experiment_id": experiment_id})
            return [task_from_row(r) for r in rows]

    def has_claimable(self, host_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        with self._cursor() as cursor:
            row = cursor.execute(query("has_claimable"), {"host_id": host_id, "at": at}).fetchone()
        return bool(row and row["found"])

    def listen(self) -> None:
        self._started_listener().ready.wait(timeout=10)

    def _start_listening(self) -> None:
        self._started_listener()

    def _started_listener(self) -> _Listener:
        with self._listener_lock:
            if self._listener is None:
                self._listener = _Listener(self._conninfo, self)
                self._listener.start()
            return self._listener

    def close(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()


class _Listener(threading.Thread):
    """One LISTEN connection per process, fanning notifications out to the local waiters."""

    def __init__(self, conninfo: str, queue: PostgresTaskQueue) -> None:
        super().__init__(name="phoenix-task-listener", daemon=True)
        self.conninfo = conninfo
        self.queue = queue
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    # whoever began waiting before now may have missed a notification (a
                    # reconnect, or a watch begun before the first connect): look again
                    self.queue.waiters.listening = True
                    self.queue.waiters.notify_all()
                    self.ready.set()
                    delay = 0.1
                    while not self._stopping.is_set():
                        for note in connection.notifies(timeout=0.5):
                            self.queue.waiters.notify(uuid.UUID(note.payload))
            except psycopg.Error as exc:
                self.queue.waiters.listening = False
                log.warning("task notifications lost (%s); reconnecting in %.1f s", exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 5.0)
        self.queue.waiters.listening = False


def _missing_reference(exc: psycopg.errors.ForeignKeyViolation) -> NotFound:
    detail = exc.diag.message_detail or ""
    match = re.search(r"Key \((\w+)\)=\(([^)]*)\)", detail)
    if match and match.group(1) == "experiment_id":
        return NotFound("experiment", match.group(2))
    return NotFound("host", match.group(2) if match else "?")
