"""An agent's status report on a task: applied through the queue (attempt-fenced), then
announced live to WebSocket clients of the task's experiment, host and the fleet."""

from __future__ import annotations

import uuid

from phoenix_core.queue import Report, TaskQueue
from phoenix_core.store.events import announce
from phoenix_core.store.session import Store
from phoenix_core.store.tables import HostRow

__all__ = ["TASK_UPDATED", "apply_report"]

TASK_UPDATED = "task_updated"


def apply_report(store: Store, queue: TaskQueue, host_id: uuid.UUID, report: Report) -> bool:
    """Apply one report; ``True`` when it changed the task, ``False`` for a repeat. A refusal
    (stale attempt, a task the host does not hold, a transition not allowed) raises.

    A report writes no ``events`` row (the task row is its own history); the live notice
    (naming the task's variant and hostname) is how dashboards and ``phoenix experiment watch``
    see tasks progress."""
    result = queue.report(host_id, [report])
    result.raise_for_refusal()
    if not result.applied:
        return False
    task = queue.get(report.task_id)
    with store.session() as session:
        host = session.get(HostRow, task.host_id)
        announce(
            session,
            TASK_UPDATED,
            experiment_id=task.experiment_id,
            host_id=task.host_id,
            data={
                "task_id": task.id,
                "type": task.type.value,
                "action": task.action.value,
                "variant": task.payload.get("variant"),  # none for a load task
                "host": host.hostname if host is not None else str(task.host_id),
                "status": task.status.value,
                "attempt": task.attempt,
                "error_message": task.error_message,
            },
        )
    return True
