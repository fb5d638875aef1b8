"""The one way a task handler says it could not do its task."""

from __future__ import annotations

__all__ = ["TaskFailed"]


class TaskFailed(Exception):
    """The task fails; the message is what its ``failed`` report says (operators read it)."""
