"""The ways a task handler says it did not do its task."""

from __future__ import annotations

__all__ = ["TaskCancelled", "TaskFailed"]


class TaskFailed(Exception):
    """The task fails; the message is what its ``failed`` report says (operators read it)."""


class TaskCancelled(Exception):
    """The control plane cancelled the task and the handler stopped what it had started; the
    message goes with its ``cancelled`` report."""
