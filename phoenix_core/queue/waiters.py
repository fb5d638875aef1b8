"""Consumers waiting for a host's tasks, woken the moment a task for that host is enqueued.

Works for threads (``threading.Event``) and for asyncio tasks (an event set on its own loop),
so one API process can hold thousands of long-polls without a thread or a database connection
for each. Every notification is stamped (a counter), so that a caller can also ask whether
anything was heard for a host since a moment it noted (``stamp``, ``heard_since``).
Waiters count from registration (``count``); those that found nothing and now sleep until
woken are also counted apart (``holding``, ``held``): what ``/metrics`` reports as waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Waiters"]

_Waiter = threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Event]


class Waiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_host: dict[uuid.UUID, set[_Waiter]] = defaultdict(set)
        self._stamp = 0  # one more per notification
        self._heard: dict[uuid.UUID, int] = {}  # each host's last notification's stamp
        self._heard_by_all = 0  # the last ``notify_all``'s
        self._held = 0  # registered waiters asleep until woken (``holding``)
        self.listening = True
        """Whether notifications can reach these waiters now (False while a backend's
        listening connection is down: anything may go unheard, ``heard_since`` says so)."""

    @contextmanager
    def registered(self, host_id: uuid.UUID, waiter: _Waiter) -> Iterator[None]:
        """Register before checking for work, so that no notification falls in between."""
        with self._lock:
            self._by_host[host_id].add(waiter)
        try:
            yield
        finally:
            with self._lock:
                waiting = self._by_host.get(host_id)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._by_host[host_id]

    def notify(self, host_id: uuid.UUID) -> None:
        with self._lock:
            self._stamp += 1
            self._heard[host_id] = self._stamp
            waiting = list(self._by_host.get(host_id, ()))
        for waiter in waiting:
            _wake(waiter)

    def notify_all(self) -> None:
        """Wake everyone (e.g. after a lost notification connection, to re-check); counts
        as a notification for every host."""
        with self._lock:
            self._stamp += 1
            self._heard_by_all = self._stamp
            self._heard.clear()
            waiting = [w for ws in self._by_host.values() for w in ws]
        for waiter in waiting:
            _wake(waiter)

    def stamp(self) -> int:
        """Now, as ``heard_since`` counts: every notification after this is heard since it."""
        with self._lock:
            return self._stamp

    def heard_since(self, host_id: uuid.UUID, stamp: int) -> bool:
        """Whether a notification for the host (or for everyone) came after ``stamp``, or
        may have (not ``listening``)."""
        with self._lock:
            return (
                not self.listening or max(self._heard_by_all, self._heard.get(host_id, 0)) > stamp
            )

    def count(self) -> int:
        with self._lock:
            return sum(len(ws) for ws in self._by_host.values())

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Count a registered waiter as held while it sleeps until woken (it found no work)."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1

    def held(self) -> int:
        """Waiters asleep until woken now (registered ones still checking for work are not)."""
        with self._lock:
            return self._held


def _wake(waiter: _Waiter) -> None:
    if isinstance(waiter, threading.Event):
        waiter.set()
        return
    loop, event = waiter
    with contextlib.suppress(RuntimeError):  # the loop closed while its waiter was registered
        loop.call_soon_threadsafe(event.set)
