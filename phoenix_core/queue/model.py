"""The task queue's vocabulary: what goes in, what comes out, and the rules every backend shares.

Task lifecycle (``phoenix_core.wire.TaskStatus``)::

    pending ─claim→ claimed ─report→ running ─report→ succeeded | failed | cancelled
       ▲                │                │
       └── lease expired (attempt < max) ┘── lease expired (attempt = max) → dead
    pending ─cancel→ cancelled

``attempt`` counts claims and fences reports: a report carrying an older attempt than the task's
is refused, so a consumer whose lease expired cannot overwrite its successor's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phoenix_core.errors import Conflict, InvalidTransition, NotFound, PhoenixError
from phoenix_core.wire.tasks import TaskAction, TaskStatus, TaskType

__all__ = [
    "REPORTABLE",
    "ClaimedTask",
    "NewTask",
    "QueueStats",
    "ReapResult",
    "Report",
    "ReportResult",
    "StaleAttempt",
    "Task",
    "TaskNotHeld",
    "backoff_seconds",
    "check_report",
    "claim_order",
    "claimed_from_row",
    "judge_report",
    "task_from_row",
]


REPORTABLE: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.CLAIMED: frozenset(
        {TaskStatus.RUNNING, TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.RUNNING: frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED}),
}
"""For a held task's status, the statuses its holder may report next."""


class StaleAttempt(Conflict):
    """A report for an attempt that is no longer the task's current one (its lease expired)."""

    def __init__(self, task_id: int, given: int, current: int) -> None:
        self.task_id, self.given, self.current = task_id, given, current
        super().__init__(
            f"Task {task_id} is at attempt {current}; a report for attempt {given} is stale."
        )


class TaskNotHeld(NotFound):
    """The host reporting on a task does not hold it (or the task does not exist)."""

    def __init__(self, task_id: int, host_id: uuid.UUID) -> None:
        super().__init__("task", f"{task_id} for host {host_id}")


@dataclass(frozen=True)
class NewTask:
    """A task to enqueue for one host."""

    host_id: uuid.UUID
    type: TaskType
    action: TaskAction
    payload: dict[str, Any]
    experiment_id: uuid.UUID | None = None
    priority: int = 0
    idempotency_key: str | None = None
    max_attempts: int = 5
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A task as stored."""

    id: int
    host_id: uuid.UUID
    experiment_id: uuid.UUID | None
    type: TaskType
    action: TaskAction
    payload: dict[str, Any]
    priority: int
    status: TaskStatus
    attempt: int
    max_attempts: int
    idempotency_key: str | None
    not_before: datetime
    lease_expires_at: datetime | None
    claimed_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested: bool
    result: dict[str, Any] | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task as its new holder needs it: what to do, which attempt, until when."""

    id: int
    host_id: uuid.UUID
    experiment_id: uuid.UUID | None
    type: TaskType
    action: TaskAction
    payload: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    lease_expires_at: datetime
    cancel_requested: bool

    @classmethod
    def of(cls, task: Task) -> ClaimedTask:
        assert task.lease_expires_at is not None
        return cls(
            id=task.id,
            host_id=task.host_id,
            experiment_id=task.experiment_id,
            type=task.type,
            action=task.action,
            payload=task.payload,
            priority=task.priority,
            attempt=task.attempt,
            max_attempts=task.max_attempts,
            lease_expires_at=task.lease_expires_at,
            cancel_requested=task.cancel_requested,
        )


def claim_order(task: Task | ClaimedTask) -> tuple[int, int]:
    """The order claims hand tasks out in: highest priority first, then oldest."""
    return -task.priority, task.id


def claimed_from_row(host_id: uuid.UUID, row: tuple[Any, ...]) -> ClaimedTask:
    """A ``ClaimedTask`` of ``host_id`` from the claim query's row: the other ``ClaimedTask``
    columns in field order (the claim hot path: a plain tuple, no per-row dictionary)."""
    (id_, experiment, type_, action, payload, priority, attempt, max_attempts, lease,
     cancel) = row  # fmt: skip
    return ClaimedTask(
        id_,
        host_id,
        _uuid(experiment) if experiment else None,
        _TYPES[type_],
        _ACTIONS[action],
        payload,
        priority,
        attempt,
        max_attempts,
        lease,
        cancel,
    )


@dataclass(frozen=True)
class Report:
    """A holder's status report on one task."""

    task_id: int
    attempt: int
    status: TaskStatus
    result: dict[str, Any] | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ReportResult:
    """What a batch of reports did: each report stands alone (applied, a repeat, or refused)."""

    applied: int
    refused: list[tuple[int, PhoenixError]] = field(default_factory=list)
    """(task id, why) for each refused report, in the order given."""

    def raise_for_refusal(self) -> None:
        """Raise the first refusal's error, if any report was refused."""
        if self.refused:
            raise self.refused[0][1]


@dataclass(frozen=True)
class ReapResult:
    """Tasks whose lease expired: back to pending, dead (retries exhausted), or cancelled."""

    requeued: list[Task] = field(default_factory=list)
    dead: list[Task] = field(default_factory=list)
    cancelled: list[Task] = field(default_factory=list)


@dataclass(frozen=True)
class QueueStats:
    """Depth per status, and the age of the oldest pending task (seconds; None when none)."""

    depth: dict[TaskStatus, int]
    oldest_pending_seconds: float | None
    pending_per_host: dict[uuid.UUID, int]


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Delay before a task whose lease expired on ``attempt`` may be claimed again."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def check_report(task: Task, host_id: uuid.UUID, report: Report) -> bool:
    """Validate ``report`` against ``task``; True if it changes the task, False if a repeat.

    Raises ``TaskNotHeld``, ``StaleAttempt`` or ``InvalidTransition``.
    """
    return judge_report(
        report,
        host_id,
        holder=task.host_id,
        attempt=task.attempt,
        status=task.status,
        cancel_requested=task.cancel_requested,
    )


def judge_report(
    report: Report,
    host_id: uuid.UUID,
    *,
    holder: uuid.UUID | None,
    attempt: int,
    status: TaskStatus,
    cancel_requested: bool,
) -> bool:
    """``check_report`` on a task's relevant fields (``holder`` None: no such task)."""
    if holder != host_id:
        raise TaskNotHeld(report.task_id, host_id)
    if report.attempt != attempt:
        raise StaleAttempt(report.task_id, report.attempt, attempt)
    if report.status == status:
        return False  # reports are idempotent
    if report.status not in REPORTABLE.get(status, frozenset()):
        raise InvalidTransition("task", status.value, report.status.value)
    if report.status is TaskStatus.CANCELLED and not cancel_requested:
        raise InvalidTransition("task that nobody cancelled", status.value, "cancelled")
    return True


_TYPES = {member.value: member for member in TaskType}
_ACTIONS = {member.value: member for member in TaskAction}
_STATUSES = {member.value: member for member in TaskStatus}


def task_from_row(row: Any) -> Task:
    """A ``Task`` from a database row (mapping) of ``agent_tasks`` (on the claim hot path)."""
    return Task(
        id=int(row["id"]),
        host_id=_uuid(row["host_id"]),
        experiment_id=_uuid(row["experiment_id"]) if row["experiment_id"] else None,
        type=_TYPES[row["type"]],
        action=_ACTIONS[row["action"]],
        payload=dict(row["payload"]),
        priority=int(row["priority"]),
        status=_STATUSES[row["status"]],
        attempt=int(row["attempt"]),
        max_attempts=int(row["max_attempts"]),
        idempotency_key=row["idempotency_key"],
        not_before=row["not_before"],
        lease_expires_at=row["lease_expires_at"],
        claimed_at=row["claimed_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        cancel_requested=bool(row["cancel_requested"]),
        result=row["result"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
