"""Identical reads that arrive together share one statement, and none is answered from before
it arrived.

A read for a key runs at once when no read for that key is in flight. While one is, callers
for the same key wait together for the *next* read, which starts when the one in flight ends
and answers all of them: a reply never comes from a statement that began before its request
did, so a caller that has just written sees its write (as without sharing), and a burst of N
identical requests costs about two statements instead of N. (Go's ``singleflight`` shares the
read in flight instead, which can answer from before a write the caller has seen finish.)

For the API's hot reads that many clients repeat at once, dashboards refreshing the same page
of experiments; the result is shared, so it must be immutable (bytes, a tuple).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["CoalescedReads"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescedReads(Generic[K, V]):
    """``await reads(key)``: ``read(key)``'s result, shared as the module says.

    A read runs in a task of its own, so a caller that gives up (a client gone, a timeout)
    does not cancel it for the others; its error, if any, is raised to every caller."""

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
        """Reads running or waiting to run (for tests and gauges)."""
        return len(self._running) + len(self._next)
