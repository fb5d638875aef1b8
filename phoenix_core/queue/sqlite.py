"""The SQLite task queue: the embedded default, for one Phoenix process.

SQLite runs one writer at a time, so a single ``UPDATE … WHERE id IN (SELECT … LIMIT n)
RETURNING`` claims atomically; waiting consumers are woken in-process by ``enqueue``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, case, delete, func, insert, select, update

from phoenix_core.clock import utcnow
from phoenix_core.errors import NotFound, PhoenixError
from phoenix_core.queue.base import QueueSettings, TaskQueue
from phoenix_core.queue.model import (
    ClaimedTask,
    NewTask,
    QueueStats,
    ReapResult,
    Report,
    ReportResult,
    Task,
    TaskNotHeld,
    backoff_seconds,
    check_report,
    claim_order,
    task_from_row,
)
from phoenix_core.store.tables import AgentTaskRow, ExperimentRow, HostRow
from phoenix_core.wire.tasks import TERMINAL_TASK_STATUSES, TaskStatus

__all__ = ["SqliteTaskQueue"]

TABLE = cast(Table, AgentTaskRow.__table__)
T = TABLE.c
HELD = [TaskStatus.CLAIMED.value, TaskStatus.RUNNING.value]
FINISHED = [s.value for s in TERMINAL_TASK_STATUSES]


class SqliteTaskQueue(TaskQueue):
    def __init__(self, engine: Engine, settings: QueueSettings | None = None) -> None:
        super().__init__(settings)
        self.engine = engine

    def enqueue(self, tasks: Sequence[NewTask]) -> list[int]:
        now = utcnow()
        out: list[Task] = []
        with self.engine.begin() as connection:
            for new in tasks:
                if new.idempotency_key is not None:
                    existing = (
                        connection.execute(
                            select(TABLE).where(T.idempotency_key == new.idempotency_key)
                        )
                        .mappings()
                        .first()
                    )
                    if existing is not None:
                        out.append(task_from_row(existing))
                        continue
                _check_references(connection, new)
                row = (
                    connection.execute(
                        insert(TABLE)
                        .returning(TABLE)
                        .values(
                            host_id=new.host_id,
                            experiment_id=new.experiment_id,
                            type=new.type.value,
                            action=new.action.value,
                            payload=new.payload,
                            priority=new.priority,
                            status=TaskStatus.PENDING.value,
                            attempt=0,
                            max_attempts=new.max_attempts,
                            idempotency_key=new.idempotency_key,
                            not_before=new.not_before or now,
                            cancel_requested=False,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    .mappings()
                    .one()
                )
                out.append(task_from_row(row))
        for host in {t.host_id for t in out}:
            self.waiters.notify(host)
        return [t.id for t in out]

    def claim(
        self,
        host_id: uuid.UUID,
        *,
        limit: int = 1,
        lease_seconds: float = 60.0,
        at: datetime | None = None,
    ) -> list[ClaimedTask]:
        now = at or utcnow()
        picked = (
            select(T.id)
            .where(T.host_id == host_id, T.status == TaskStatus.PENDING.value, T.not_before <= now)
            .order_by(T.priority.desc(), T.id)
            .limit(limit)
        )
        statement = (
            update(TABLE)
            .where(T.id.in_(picked.scalar_subquery()))
            .values(
                status=TaskStatus.CLAIMED.value,
                attempt=T.attempt + 1,
                claimed_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            .returning(TABLE)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(statement).mappings().all()
        tasks = (ClaimedTask.of(task_from_row(r)) for r in rows)
        return sorted(tasks, key=claim_order)

    def report(self, host_id: uuid.UUID, reports: Sequence[Report]) -> ReportResult:
        now = utcnow()
        applied, refused = 0, []
        with self.engine.begin() as connection:
            for report in reports:
                row = (
                    connection.execute(select(TABLE).where(T.id == report.task_id))
                    .mappings()
                    .first()
                )
                try:
                    if row is None:
                        raise TaskNotHeld(report.task_id, host_id)
                    task = task_from_row(row)
                    if not check_report(task, host_id, report):
                        continue
                except PhoenixError as exc:
                    refused.append((report.task_id, exc))
                    continue
                values: dict[str, Any] = {"status": report.status.value, "updated_at": now}
                if report.status is TaskStatus.RUNNING and task.started_at is None:
                    values["started_at"] = now
                if report.status in TERMINAL_TASK_STATUSES:
                    values.update(completed_at=now, lease_expires_at=None)
                if report.result is not None:
                    values["result"] = report.result
                if report.error_message:
                    values["error_message"] = report.error_message
                connection.execute(
                    update(TABLE)
                    .where(
                        T.id == task.id, T.attempt == task.attempt, T.status == task.status.value
                    )
                    .values(**values)
                )
                applied += 1
        return ReportResult(applied, refused)

    def heartbeat(
        self, host_id: uuid.UUID, *, lease_seconds: float = 60.0, at: datetime | None = None
    ) -> int:
        now = at or utcnow()
        with self.engine.begin() as connection:
            result = connection.execute(
                update(TABLE)
                .where(T.host_id == host_id, T.status.in_(HELD))
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
        return int(result.rowcount)

    def _cancel_where(self, condition: Any) -> list[Task]:
        now = utcnow()
        with self.engine.begin() as connection:
            rows = (
                connection.execute(
                    update(TABLE)
                    .where(condition, T.status.not_in(FINISHED))
                    .values(
                        status=case(
                            (T.status == TaskStatus.PENDING.value, TaskStatus.CANCELLED.value),
                            else_=T.status,
                        ),
                        completed_at=case(
                            (T.status == TaskStatus.PENDING.value, now), else_=T.completed_at
                        ),
                        cancel_requested=case(
                            (T.status == TaskStatus.PENDING.value, False), else_=True
                        ),
                        updated_at=now,
                    )
                    .returning(TABLE)
                )
                .mappings()
                .all()
            )
        tasks = [task_from_row(r) for r in rows]
        for host in {t.host_id for t in tasks}:
            self.waiters.notify(host)
        return sorted(tasks, key=lambda t: t.id)

    def cancel(self, task_id: int) -> Task:
        cancelled = self._cancel_where(T.id == task_id)
        return cancelled[0] if cancelled else self.get(task_id)

    def cancel_experiment(self, experiment_id: uuid.UUID) -> list[Task]:
        return self._cancel_where(T.experiment_id == experiment_id)

    def cancellations(self, host_id: uuid.UUID) -> list[Task]:
        with self.engine.connect() as connection:
            rows = (
                connection.execute(
                    select(TABLE)
                    .where(T.host_id == host_id, T.status.in_(HELD), T.cancel_requested.is_(True))
                    .order_by(T.id)
                )
                .mappings()
                .all()
            )
        return [task_from_row(r) for r in rows]

    def reap(self, *, at: datetime | None = None) -> ReapResult:
        now = at or utcnow()
        result = ReapResult()
        with self.engine.begin() as connection:
            expired = (
                connection.execute(
                    select(TABLE).where(T.status.in_(HELD), T.lease_expires_at < now)
                )
                .mappings()
                .all()
            )
            for row in expired:
                task = task_from_row(row)
                error = f"lease expired on attempt {task.attempt}"
                values: dict[str, Any] = {"lease_expires_at": None, "updated_at": now}
                if task.cancel_requested:
                    values.update(status=TaskStatus.CANCELLED.value, completed_at=now)
                    bucket = result.cancelled
                elif task.attempt >= task.max_attempts:
                    values.update(
                        status=TaskStatus.DEAD.value, completed_at=now, error_message=error
                    )
                    bucket = result.dead
                else:
                    delay = backoff_seconds(
                        task.attempt,
                        self.settings.backoff_base_seconds,
                        self.settings.backoff_cap_seconds,
                    )
                    values.update(
                        status=TaskStatus.PENDING.value,
                        error_message=error,
                        not_before=now + timedelta(seconds=delay),
                    )
                    bucket = result.requeued
                updated = (
                    connection.execute(
                        update(TABLE)
                        .where(
                            T.id == task.id,
                            T.attempt == task.attempt,
                            T.status == task.status.value,
                        )
                        .values(**values)
                        .returning(TABLE)
                    )
                    .mappings()
                    .first()
                )
                if updated is not None:
                    bucket.append(task_from_row(updated))
        return result

    def purge_finished(self, older_than: timedelta, *, at: datetime | None = None) -> int:
        cutoff = (at or utcnow()) - older_than
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(TABLE).where(T.status.in_(FINISHED), T.completed_at < cutoff)
            )
        return int(result.rowcount)

    def stats(self, *, at: datetime | None = None) -> QueueStats:
        now = at or utcnow()
        with self.engine.connect() as connection:
            counts: dict[str, int] = dict(
                connection.execute(select(T.status, func.count()).group_by(T.status)).all()
            )
            per_host: dict[Any, int] = dict(
                connection.execute(
                    select(T.host_id, func.count())
                    .where(T.status == TaskStatus.PENDING.value)
                    .group_by(T.host_id)
                ).all()
            )
            oldest = connection.execute(
                select(TABLE.c.created_at)
                .where(T.status == TaskStatus.PENDING.value)
                .order_by(T.created_at)
                .limit(1)
            ).scalar()
        return QueueStats(
            depth={status: int(counts.get(status.value, 0)) for status in TaskStatus},
            oldest_pending_seconds=(now - oldest).total_seconds() if oldest else None,
            pending_per_host={uuid.UUID(str(h)): int(n) for h, n in per_host.items()},
        )

    def get(self, task_id: int) -> Task:
        with self.engine.connect() as connection:
            row = connection.execute(select(TABLE).where(T.id == task_id)).mappings().first()
        if row is None:
            raise NotFound("task", task_id)
        return task_from_row(row)

    def tasks_of(self, experiment_id: uuid.UUID) -> list[Task]:
        with self.engine.connect() as connection:
            rows = (
                connection.execute(
                    select(TABLE).where(T.experiment_id == experiment_id).order_by(T.id)
                )
                .mappings()
                .all()
            )
        return [task_from_row(r) for r in rows]

    def has_claimable(self, host_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        now = at or utcnow()
        with self.engine.connect() as connection:
            found = connection.execute(
                select(T.id)
                .where(
                    T.host_id == host_id, T.status == TaskStatus.PENDING.value, T.not_before <= now
                )
                .limit(1)
            ).first()
        return found is not None


def _check_references(connection: Any, new: NewTask) -> None:
    """Unknown hosts and experiments are ``NotFound``, not a foreign-key error."""
    host = connection.execute(select(HostRow.id).where(HostRow.id == new.host_id)).first()
    if host is None:
        raise NotFound("host", new.host_id)
    if new.experiment_id is not None:
        found = connection.execute(
            select(ExperimentRow.id).where(ExperimentRow.id == new.experiment_id)
        ).first()
        if found is None:
            raise NotFound("experiment", new.experiment_id)
