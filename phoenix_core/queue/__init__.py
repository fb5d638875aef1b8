"""The task queue: tasks for hosts' agents, claimed exactly once, with leases and retries.

``open_queue(engine)`` gives the backend for the database in use; ``MemoryTaskQueue`` serves
unit tests. All three pass the same contract tests (``tests/integration/test_task_queue.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phoenix_core.queue.base import QueueSettings, TaskQueue, Wakeup
from phoenix_core.queue.memory import MemoryTaskQueue
from phoenix_core.queue.model import (
    ClaimedTask,
    NewTask,
    QueueStats,
    ReapResult,
    Report,
    ReportResult,
    StaleAttempt,
    Task,
    TaskNotHeld,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "ClaimedTask",
    "MemoryTaskQueue",
    "NewTask",
    "QueueSettings",
    "QueueStats",
    "ReapResult",
    "Report",
    "ReportResult",
    "StaleAttempt",
    "Task",
    "TaskNotHeld",
    "TaskQueue",
    "Wakeup",
    "open_queue",
]


def open_queue(engine: Engine, settings: QueueSettings | None = None) -> TaskQueue:
    """The queue backend for ``engine``'s database (PostgreSQL or SQLite)."""
    if engine.dialect.name == "postgresql":
        from phoenix_core.queue.postgres import PostgresTaskQueue

        return PostgresTaskQueue(engine, settings)
    from phoenix_core.queue.sqlite import SqliteTaskQueue

    return SqliteTaskQueue(engine, settings)
