"""What a task's handler may ask about the task it runs: whether the control plane cancelled it,
and how long its lease lasts.

The lease is kept by this host's monotonic clock: its length is read from the claim
(``lease_expires_at`` less the time of arrival, so it assumes the host's clock is synchronised
with the API's), and each heartbeat that goes through extends it by that length, as the API
does. A handler that waits on the API (a config download) must not wait past it: by then the
task is back in the queue for another attempt.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

from phoenix_agent.failures import TaskCancelled

__all__ = ["TaskControl"]


class TaskControl:
    """One held task's cancellation flag and lease (default: never cancelled, no lease)."""

    def __init__(self, lease_seconds: float = math.inf) -> None:
        self.cancelled = threading.Event()
        """Set when a poll lists the task in ``cancellations``."""
        self.lease_seconds = lease_seconds
        self._until = time.monotonic() + lease_seconds

    @classmethod
    def claimed(cls, lease_expires_at: datetime) -> TaskControl:
        """The control of a task just claimed with this lease."""
        if lease_expires_at.tzinfo is None:
            lease_expires_at = lease_expires_at.replace(tzinfo=UTC)
        return cls(max(0.0, (lease_expires_at - datetime.now(UTC)).total_seconds()))

    def extend(self, since: float) -> None:
        """A heartbeat sent at ``since`` (monotonic) went through: the lease runs from then."""
        self._until = max(self._until, since + self.lease_seconds)

    def lease_left(self) -> float:
        """Seconds until the lease runs out unless a heartbeat extends it."""
        return self._until - time.monotonic()

    def check(self, doing: str) -> None:
        """Raise ``TaskCancelled`` (saying what was under way) once the task is cancelled."""
        if self.cancelled.is_set():
            raise TaskCancelled(f"cancelled by the control plane while {doing}")
