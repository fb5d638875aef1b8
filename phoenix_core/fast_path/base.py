"""The fast path's interface: what every agent and dashboard calls all the time.

Two implementations, chosen by the database (``fast_path_for``), shaped like the task queue's:

- :class:`~phoenix_core.fast_path.postgres.PostgresFastPath`: one statement each from
  ``phoenix_core/sql/fast_path.sql`` on an asyncio pool of connections (why: ``bench/README.md``).
- :class:`~phoenix_core.fast_path.reference.RepositoryFastPath`: the repositories on a worker
  thread, for SQLite (the embedded default) and as the reference the PostgreSQL statements are
  tested against (``tests/integration/test_fast_path.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from phoenix_core.auth import Principal
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.queue import ClaimedTask, TaskQueue
from phoenix_core.store.database import is_postgresql
from phoenix_core.wire import Heartbeat

if TYPE_CHECKING:
    from phoenix_core.store.session import Store

__all__ = ["AgentWork", "FastPath", "fast_path_for"]


class AgentWork(NamedTuple):
    """What a poll hands an agent: the tasks it just claimed, the held ones it must stop."""

    claimed: list[ClaimedTask]
    cancellations: list[int]


class FastPath(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def heartbeat(
        self, host_id: uuid.UUID, heartbeat: Heartbeat, *, lease_seconds: float,
        at: datetime | None = None,
    ) -> int:  # fmt: skip
        """Record the heartbeat and extend the host's leases; how many were extended.
        ``NotFound`` for an unknown host, ``Conflict`` for a decommissioned one."""
        ...

    async def principal(self, token: str) -> Principal:
        """``TokenRepository.authenticate``: who holds ``token``, or ``Unauthenticated``."""
        ...

    async def poll(
        self, host_id: uuid.UUID, *, limit: int, lease_seconds: float, waiting: bool = False
    ) -> AgentWork:  # fmt: skip
        """``TaskQueue.claim`` up to ``limit`` of the host's tasks, and the ids of its
        ``TaskQueue.cancellations``. ``waiting``: the caller watches the host
        (``TaskQueue.watch``) and, given nothing, waits to be woken; a host known to have
        nothing may then be answered without a look (anything for it since wakes the watch)."""
        ...

    async def experiment_page(
        self, *, state: ExperimentState | None, limit: int,
        before: tuple[datetime, uuid.UUID] | None,
    ) -> bytes:  # fmt: skip
        """Up to ``limit`` summaries as ``ExperimentRepository.summaries`` gives them, after
        ``before``: the ``ExperimentPage`` JSON document, as the API sends it."""
        ...


def fast_path_for(store: Store, queue: TaskQueue, *, connections: int) -> FastPath:
    """PostgreSQL's statements on a pool of ``connections``, or the repositories."""
    if is_postgresql(store.engine):
        from phoenix_core.fast_path.postgres import PostgresFastPath

        return PostgresFastPath(store.engine, queue.waiters, connections=connections)
    from phoenix_core.fast_path.reference import RepositoryFastPath

    return RepositoryFastPath(store, queue)
