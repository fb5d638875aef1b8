"""The in-memory task queue: the same semantics as the database backends, for unit tests."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

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
)
from phoenix_core.wire.tasks import TERMINAL_TASK_STATUSES, TaskStatus

__all__ = ["MemoryTaskQueue"]

HELD = (TaskStatus.CLAIMED, TaskStatus.RUNNING)


class MemoryTaskQueue(TaskQueue):
    def __init__(
        self, settings: QueueSettings | None = None, known_hosts: set[uuid.UUID] | None = None
    ) -> None:
        super().__init__(settings)
        self._lock = threading.RLock()
        self._tasks: dict[int, Task] = {}
        self._keys: dict[str, int] = {}
        self._next_id = 1
        self.known_hosts = known_hosts
        """When set, enqueueing for any other host is refused (as the database's foreign key)."""

    def enqueue(self, tasks: Sequence[NewTask]) -> list[int]:
        now = utcnow()
        out = []
        with self._lock:
            for new in tasks:
                if self.known_hosts is not None and new.host_id not in self.known_hosts:
                    raise NotFound("host", new.host_id)
                if new.idempotency_key is not None and new.idempotency_key in self._keys:
                    out.append(self._tasks[self._keys[new.idempotency_key]])
                    continue
                task = Task(
                    id=self._next_id,
                    host_id=new.host_id,
                    experiment_id=new.experiment_id,
                    type=new.type,
                    action=new.action,
                    payload=dict(new.payload),
                    priority=new.priority,
                    status=TaskStatus.PENDING,
                    attempt=0,
                    max_attempts=new.max_attempts,
                    idempotency_key=new.idempotency_key,
                    not_before=new.not_before or now,
                    lease_expires_at=None,
                    claimed_at=None,
                    started_at=None,
                    completed_at=None,
                    cancel_requested=False,
                    result=None,
                    error_message=None,
                    created_at=now,
                    updated_at=now,
                )
                self._next_id += 1
                self._tasks[task.id] = task
                if new.idempotency_key is not None:
                    self._keys[new.idempotency_key] = task.id
                out.append(task)
        for host in {t.host_id for t in out}:
            self.waiters.notify(host)
        return [t.id for t in out]

    def _claimable(self, host_id: uuid.UUID, now: datetime) -> list[Task]:
        ready = [
            t
            for t in self._tasks.values()
            if t.host_id == host_id and t.status is TaskStatus.PENDING and t.not_before <= now
        ]
        return sorted(ready, key=claim_order)

    def claim(
        self,
        host_id: uuid.UUID,
        *,
        limit: int = 1,
        lease_seconds: float = 60.0,
        at: datetime | None = None,
    ) -> list[ClaimedTask]:
        now = at or utcnow()
        with self._lock:
            claimed = []
            for task in self._claimable(host_id, now)[:limit]:
                updated = dataclasses.replace(
                    task,
                    status=TaskStatus.CLAIMED,
                    attempt=task.attempt + 1,
                    claimed_at=now,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
                self._tasks[task.id] = updated
                claimed.append(ClaimedTask.of(updated))
            return claimed

    def report(self, host_id: uuid.UUID, reports: Sequence[Report]) -> ReportResult:
        now = utcnow()
        applied, refused = 0, []
        with self._lock:
            for report in reports:
                task = self._tasks.get(report.task_id)
                try:
                    if task is None:
                        raise TaskNotHeld(report.task_id, host_id)
                    if check_report(task, host_id, report):
                        self._tasks[task.id] = _reported(task, report, now)
                        applied += 1
                except PhoenixError as exc:
                    refused.append((report.task_id, exc))
        return ReportResult(applied, refused)

    def heartbeat(
        self, host_id: uuid.UUID, *, lease_seconds: float = 60.0, at: datetime | None = None
    ) -> int:
        now = at or utcnow()
        with self._lock:
            held = [t for t in self._tasks.values() if t.host_id == host_id and t.status in HELD]
            for task in held:
                self._tasks[task.id] = dataclasses.replace(
                    task, lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now
                )
            return len(held)

    def cancel(self, task_id: int) -> Task:
        with self._lock:
            task = self.get(task_id)
            task = self._cancelled(task, utcnow())
        self.waiters.notify(task.host_id)
        return task

    def _cancelled(self, task: Task, now: datetime) -> Task:
        if task.status is TaskStatus.PENDING:
            task = dataclasses.replace(
                task, status=TaskStatus.CANCELLED, completed_at=now, updated_at=now
            )
        elif task.status in HELD:
            task = dataclasses.replace(task, cancel_requested=True, updated_at=now)
        self._tasks[task.id] = task
        return task

    def cancel_experiment(self, experiment_id: uuid.UUID) -> list[Task]:
        now = utcnow()
        with self._lock:
            out = [
                self._cancelled(t, now)
                for t in list(self._tasks.values())
                if t.experiment_id == experiment_id and t.status not in TERMINAL_TASK_STATUSES
            ]
        for host in {t.host_id for t in out}:
            self.waiters.notify(host)
        return out

    def cancellations(self, host_id: uuid.UUID) -> list[Task]:
        with self._lock:
            return sorted(
                (
                    t
                    for t in self._tasks.values()
                    if t.host_id == host_id and t.status in HELD and t.cancel_requested
                ),
                key=lambda t: t.id,
            )

    def reap(self, *, at: datetime | None = None) -> ReapResult:
        now = at or utcnow()
        result = ReapResult()
        with self._lock:
            for task in list(self._tasks.values()):
                if task.status not in HELD or task.lease_expires_at is None:
                    continue
                if task.lease_expires_at >= now:
                    continue
                reaped = self._expired(task, now)
                {
                    TaskStatus.CANCELLED: result.cancelled,
                    TaskStatus.DEAD: result.dead,
                    TaskStatus.PENDING: result.requeued,
                }[reaped.status].append(reaped)
                self._tasks[task.id] = reaped
        return result

    def _expired(self, task: Task, now: datetime) -> Task:
        """What an expired lease makes of a held task."""
        error = f"lease expired on attempt {task.attempt}"
        if task.cancel_requested:
            return dataclasses.replace(
                task,
                status=TaskStatus.CANCELLED,
                lease_expires_at=None,
                completed_at=now,
                updated_at=now,
            )
        if task.attempt >= task.max_attempts:
            return dataclasses.replace(
                task,
                status=TaskStatus.DEAD,
                lease_expires_at=None,
                completed_at=now,
                updated_at=now,
                error_message=error,
            )
        delay = backoff_seconds(
            task.attempt, self.settings.backoff_base_seconds, self.settings.backoff_cap_seconds
        )
        return dataclasses.replace(
            task,
            status=TaskStatus.PENDING,
            lease_expires_at=None,
            not_before=now + timedelta(seconds=delay),
            updated_at=now,
            error_message=error,
        )

    def purge_finished(self, older_than: timedelta, *, at: datetime | None = None) -> int:
        cutoff = (at or utcnow()) - older_than
        with self._lock:
            old = [
                t.id
                for t in self._tasks.values()
                if t.status in TERMINAL_TASK_STATUSES and t.completed_at and t.completed_at < cutoff
            ]
            for task_id in old:
                task = self._tasks.pop(task_id)
                if task.idempotency_key is not None:
                    self._keys.pop(task.idempotency_key, None)
            return len(old)

    def stats(self, *, at: datetime | None = None) -> QueueStats:
        now = at or utcnow()
        with self._lock:
            depth = {status: 0 for status in TaskStatus}
            per_host: dict[uuid.UUID, int] = {}
            oldest: datetime | None = None
            for task in self._tasks.values():
                depth[task.status] += 1
                if task.status is TaskStatus.PENDING:
                    per_host[task.host_id] = per_host.get(task.host_id, 0) + 1
                    oldest = task.created_at if oldest is None else min(oldest, task.created_at)
        age = (now - oldest).total_seconds() if oldest else None
        return QueueStats(depth=depth, oldest_pending_seconds=age, pending_per_host=per_host)

    def get(self, task_id: int) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise NotFound("task", task_id)
        return task

    def tasks_of(self, experiment_id: uuid.UUID) -> list[Task]:
        with self._lock:
            return sorted(
                (t for t in self._tasks.values() if t.experiment_id == experiment_id),
                key=lambda t: t.id,
            )

    def has_claimable(self, host_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        with self._lock:
            return bool(self._claimable(host_id, at or utcnow()))


def _reported(task: Task, report: Report, now: datetime) -> Task:
    finished = report.status in TERMINAL_TASK_STATUSES
    return dataclasses.replace(
        task,
        status=report.status,
        started_at=task.started_at or (now if report.status is TaskStatus.RUNNING else None),
        completed_at=now if finished else None,
        lease_expires_at=None if finished else task.lease_expires_at,
        result=report.result if report.result is not None else task.result,
        error_message=report.error_message or task.error_message,
        updated_at=now,
    )
