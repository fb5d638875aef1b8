"""The fast path through the repositories, each call on a worker thread: SQLite's (one
process, the embedded default) and the reference that ``PostgresFastPath`` is tested against."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial

import anyio.to_thread

from phoenix_core.auth import Principal
from phoenix_core.fast_path.base import AgentWork
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.queue import TaskQueue
from phoenix_core.store.experiments import ExperimentPage, ExperimentRepository, page_cursor
from phoenix_core.store.hosts import HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tokens import TokenRepository
from phoenix_core.wire import Heartbeat

__all__ = ["RepositoryFastPath"]


class RepositoryFastPath:
    """The repositories (any database), each call on a worker thread."""

    def __init__(self, store: Store, queue: TaskQueue) -> None:
        self.store = store
        self.queue = queue

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def heartbeat(
        self, host_id: uuid.UUID, heartbeat: Heartbeat, *, lease_seconds: float,
        at: datetime | None = None,
    ) -> int:  # fmt: skip
        call = partial(self._heartbeat, host_id, heartbeat, lease_seconds, at)
        return await anyio.to_thread.run_sync(call)

    def _heartbeat(
        self, host_id: uuid.UUID, heartbeat: Heartbeat, lease_seconds: float, at: datetime | None
    ) -> int:
        with self.store.session() as session:
            HostRepository(session).record_heartbeat(host_id, heartbeat, at=at)
        return self.queue.heartbeat(host_id, lease_seconds=lease_seconds, at=at)

    async def principal(self, token: str) -> Principal:
        return await anyio.to_thread.run_sync(self._principal, token)

    def _principal(self, token: str) -> Principal:
        with self.store.session() as session:
            return TokenRepository(session).authenticate(token)

    async def poll(
        self, host_id: uuid.UUID, *, limit: int, lease_seconds: float, waiting: bool = False
    ) -> AgentWork:  # fmt: skip
        call = partial(self._poll, host_id, limit, lease_seconds)
        return await anyio.to_thread.run_sync(call)

    def _poll(self, host_id: uuid.UUID, limit: int, lease_seconds: float) -> AgentWork:
        claimed = self.queue.claim(host_id, limit=limit, lease_seconds=lease_seconds)
        return AgentWork(claimed, [task.id for task in self.queue.cancellations(host_id)])

    async def experiment_page(
        self, *, state: ExperimentState | None, limit: int,
        before: tuple[datetime, uuid.UUID] | None,
    ) -> bytes:  # fmt: skip
        call = partial(self._page, state, limit, before)
        return await anyio.to_thread.run_sync(call)

    def _page(
        self, state: ExperimentState | None, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> bytes:
        with self.store.session() as session:
            found = ExperimentRepository(session).summaries(
                state=state, limit=limit + 1, before=before
            )
        items = list(found[:limit])
        more = len(found) > limit
        cursor = page_cursor(items[-1].created_at, items[-1].id) if more else None
        return ExperimentPage(items=items, next_cursor=cursor).model_dump_json().encode()
