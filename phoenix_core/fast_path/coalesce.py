"""Requests that arrive together share a statement: the fast path under load.

- :class:`CoalescedReads`: identical reads. One runs at once when none for its key is in
  flight; while one is, callers for the same key wait together for the *next* read, which
  starts when the one in flight ends and answers all of them. A reply never comes from a
  statement that began before its request did, so a caller that has just written sees its
  write (as without sharing), and a burst of N identical requests costs about two statements
  instead of N. (Go's ``singleflight`` shares the read in flight instead, which can answer from
  before a write the caller has seen finish.) For reads many clients repeat at once, dashboards
  refreshing the same page; the result is shared, so it must be immutable (bytes, a tuple).
- :class:`BatchedWrites`: writes of different things (group commit). A write goes at once when
  fewer than ``in_flight`` batches are being written; those that arrive meanwhile go together
  in the next batch, one statement for all. Alone when they come alone (no added wait), in
  batches under load.

Each statement runs in a task of its own, so a caller that gives up (a client gone, a timeout)
does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BatchedWrites", "CoalescedReads"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class CoalescedReads(Generic[K, V]):
    """``await reads(key)``: ``read(key)``'s result, shared as the module says; its error, if
    any, is raised to every caller of that read."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._running: dict[K, asyncio.Task[V]] = {}
        self._next: dict[K, asyncio.Task[V]] = {}

    async def __call__(self, key: K) -> V:
        task = self._next.get(key)
        if task is None:
            running = self._running.get(key)
            task = asyncio.get_running_loop().create_task(self._run(key, running))
            if running is None:
                self._running[key] = task
            else:
                self._next[key] = task
        return await asyncio.shield(task)

    async def _run(self, key: K, after: asyncio.Task[V] | None) -> V:
        this = asyncio.current_task()
        if after is not None:
            try:
                await asyncio.wait([after])  # its outcome is its callers'
            finally:
                del self._next[key]  # no one joins this read from here on
            self._running[key] = this  # type: ignore[assignment]
        try:
            return await self._read(key)
        finally:
            del self._running[key]

    def in_flight(self) -> int:
        """Reads running or waiting to run (tests check that none is left behind)."""
        return len(self._running) + len(self._next)


class BatchedWrites(Generic[K, T, V]):
    """``await writes(key, item)``: ``item``'s entry in what ``write(items)`` returns for the
    batch it went in (one entry per item, in order).

    Up to ``in_flight`` batches are written at once (while one waits for the database,
    another can be sent). Never two items of one key in a batch, nor in two batches being
    written at once: a key's items are written in the order they came (a host's heartbeats
    stay in order). At most ``max_size`` items in a batch. When a batch fails and
    ``split(error)`` says so (the error may be one item's fault, not the database's), its
    items are written again one by one, so a bad item fails only its own caller. An item
    whose caller gave up before its batch was written is left out."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[list[V]]],
        *,
        split: Callable[[Exception], bool],
        in_flight: int = 1,
        max_size: int = 64,
    ) -> None:
        self._write = write
        self._split = split
        self._in_flight = in_flight
        self._max_size = max_size
        self._pending: deque[dict[K, tuple[T, asyncio.Future[V]]]] = deque()
        self._writing: set[K] = set()
        self._writers: set[asyncio.Task[None]] = set()
        self._writing_batches = 0

    async def __call__(self, key: K, item: T) -> V:
        loop = asyncio.get_running_loop()
        batch = next((b for b in self._pending if key not in b and len(b) < self._max_size), None)
        if batch is None:
            batch = {}
            self._pending.append(batch)
        future: asyncio.Future[V] = loop.create_future()
        batch[key] = (item, future)
        if self._writing_batches < self._in_flight:
            self._writing_batches += 1  # (counted here and at the writer's end, not by its task)
            writer = loop.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while entries := self._next_batch():
                keys = [key for key, _ in entries]
                self._writing.update(keys)
                try:
                    await self._write_batch([entry for _, entry in entries])
                finally:
                    self._writing.difference_update(keys)
        except BaseException:  # cancelled (the loop is closing): no caller waits forever
            for batch in self._pending:
                for _, future in batch.values():
                    future.cancel()
            raise
        finally:
            self._writing_batches -= 1

    def _next_batch(self) -> list[tuple[K, tuple[T, asyncio.Future[V]]]]:
        """The first waiting batch's items whose key is not being written (the others wait
        for the batch after); empty when there is nothing this writer may write now."""
        while self._pending:
            ready, blocked = [], {}
            for key, entry in self._pending.popleft().items():
                if key in self._writing:
                    blocked[key] = entry
                elif not entry[1].done():  # (given up: left out)
                    ready.append((key, entry))
            if blocked:
                self._pending.appendleft(blocked)
            if ready or blocked:
                return ready  # empty: the writer of those keys takes them after its batch
        return []

    async def _write_batch(self, entries: list[tuple[T, asyncio.Future[V]]]) -> None:
        try:
            results = await self._write([item for item, _ in entries])
        except Exception as exc:
            if len(entries) > 1 and self._split(exc):
                for entry in entries:
                    await self._write_batch([entry])
                return
            for _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in entries:
                future.cancel()
            raise
        for (_, future), result in zip(entries, results, strict=True):
            if not future.done():
                future.set_result(result)

    def waiting(self) -> int:
        """Items waiting for their batch to be written (tests check that none is left behind)."""
        return sum(len(batch) for batch in self._pending)
