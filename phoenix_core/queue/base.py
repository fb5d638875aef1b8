"""The task queue port: one interface, three backends (PostgreSQL, SQLite, in-memory).

Every backend passes the same contract tests. Waiting is by notification, never by polling.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from phoenix_core.queue.model import (
    ClaimedTask,
    NewTask,
    QueueStats,
    ReapResult,
    Report,
    ReportResult,
    Task,
)
from phoenix_core.queue.waiters import Waiters

__all__ = ["QueueSettings", "TaskQueue", "Wakeup"]


@dataclass(frozen=True)
class QueueSettings:
    """How the queue retries: exponential backoff after an expired lease, capped."""

    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0


class Wakeup:
    """A registration made by ``TaskQueue.watch``."""

    def __init__(self, event: asyncio.Event, waiters: Waiters) -> None:
        self._event = event
        self._waiters = waiters

    async def wait(self, timeout: float) -> bool:
        """True once woken for the host (work enqueued, or a cancellation, since the watch
        began), False after ``timeout`` seconds without."""
        try:
            with self._waiters.holding():
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        except TimeoutError:
            return False
        return True


class TaskQueue(ABC):
    """Tasks for hosts' agents: enqueue, claim with a lease, report, reap, cancel, wait."""

    def __init__(self, settings: QueueSettings | None = None) -> None:
        self.settings = settings or QueueSettings()
        self.waiters = Waiters()

    @abstractmethod
    def enqueue(self, tasks: Sequence[NewTask]) -> list[int]:
        """Add tasks; returns their ids in order (an existing idempotency key gives the
        existing task's id, and adds nothing)."""

    @abstractmethod
    def claim(
        self,
        host_id: uuid.UUID,
        *,
        limit: int = 1,
        lease_seconds: float = 60.0,
        at: datetime | None = None,
    ) -> list[ClaimedTask]:
        """Atomically take up to ``limit`` claimable tasks of the host (priority, then age)."""

    @abstractmethod
    def report(self, host_id: uuid.UUID, reports: Sequence[Report]) -> ReportResult:
        """Apply the holder's status reports, each on its own: fenced by attempt, repeats
        are no-ops, a refused one (not held, stale, not allowed) changes nothing."""

    @abstractmethod
    def heartbeat(
        self, host_id: uuid.UUID, *, lease_seconds: float = 60.0, at: datetime | None = None
    ) -> int:
        """Extend the leases of every task the host holds; returns how many."""

    @abstractmethod
    def cancel(self, task_id: int) -> Task:
        """Cancel a pending task now; ask the holder of a claimed or running one to stop."""

    @abstractmethod
    def cancel_experiment(self, experiment_id: uuid.UUID) -> list[Task]:
        """``cancel`` every unfinished task of an experiment."""

    @abstractmethod
    def cancellations(self, host_id: uuid.UUID) -> list[Task]:
        """Tasks the host holds that it has been asked to stop."""

    @abstractmethod
    def reap(self, *, at: datetime | None = None) -> ReapResult:
        """Expired leases: back to pending with backoff, or dead once out of attempts."""

    @abstractmethod
    def purge_finished(self, older_than: timedelta, *, at: datetime | None = None) -> int:
        """Delete finished tasks completed longer than ``older_than`` ago (retention)."""

    @abstractmethod
    def stats(self, *, at: datetime | None = None) -> QueueStats: ...

    @abstractmethod
    def get(self, task_id: int) -> Task: ...

    @abstractmethod
    def tasks_of(self, experiment_id: uuid.UUID) -> list[Task]:
        """Every task of an experiment, oldest first."""

    @abstractmethod
    def has_claimable(self, host_id: uuid.UUID, *, at: datetime | None = None) -> bool:
        """Whether ``claim`` would return something for the host now."""

    def close(self) -> None:  # noqa: B027 - a hook; most backends hold nothing to release
        """Release background resources (the notification listener, where there is one)."""

    @contextmanager
    def watch(self, host_id: uuid.UUID) -> Iterator[Wakeup]:
        """Be woken for the host's work from now on, for an asyncio caller: enter before
        claiming, so that a task enqueued between the claim and the wait still wakes it. No
        thread and no connection held while waiting."""
        event = asyncio.Event()
        with self.waiters.registered(host_id, (asyncio.get_running_loop(), event)):
            self._start_listening()  # never waits on the event loop: see ``listen``
            yield Wakeup(event, self.waiters)

    def listen(self) -> None:
        """Start hearing the queue's notifications and, on a backend with a listener, block
        (up to 10 s) until they are heard: a process that will wait for work calls this as it
        starts (the API, off its event loop). A listener that connects later, or again, wakes
        every waiter to look again, so a watch begun before then misses nothing."""
        self._start_listening()

    def _start_listening(self) -> None:  # noqa: B027 - a hook; only PostgreSQL has a listener
        """Make sure notifications will reach ``self.waiters``, without waiting."""
