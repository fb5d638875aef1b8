"""The API's shutdown as its requests see it: once it begins, what holds a connection open
ends at once instead of being waited for.

uvicorn, told to stop, stops taking connections and then waits for every open one to finish:
an agent's long-poll for up to its ``wait`` (30 s), a live session until its client leaves.
``phoenix api serve`` begins this shutdown first (``begin``), so that by then

- held long-polls are answered, empty (``Connection: close``), having claimed nothing: the
  agent polls again, this process or the next; a claim already under way is answered with its
  tasks, and none begins after;
- live sessions (``/api/v1/ws``) are closed with 1001 (going away): the client reconnects;
- the controller's loop is told to stop (``on_begin``).

Tasks agents hold are theirs still: their leases run on, and their reports and heartbeats go
to whichever API process answers next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator

__all__ = ["GOING_AWAY", "Shutdown"]

log = logging.getLogger(__name__)

GOING_AWAY = 1001
"""The WebSocket close code of a server that is going away (RFC 6455)."""


class Shutdown:
    """Whether the shutdown has begun, and the requests that hold a connection open."""

    def __init__(self) -> None:
        self._begun = asyncio.Event()
        self._held: Counter[str] = Counter()
        self._none_held = asyncio.Event()
        self._none_held.set()
        self.on_begin: list[Callable[[], None]] = []
        """Called as the shutdown begins (wake the held long-polls, stop the controller)."""

    @property
    def begun(self) -> bool:
        return self._begun.is_set()

    async def wait(self) -> None:
        """Return once the shutdown has begun."""
        await self._begun.wait()

    @contextlib.contextmanager
    def holding(self, what: str) -> Iterator[None]:
        """Count a request that holds its connection open (``what``: a long-poll, a live
        session) until it ends: ``begin`` waits for them to end."""
        self._held[what] += 1
        self._none_held.clear()
        try:
            yield
        finally:
            self._held[what] -= 1
            if not +self._held:
                self._none_held.set()

    async def begin(self, timeout: float) -> None:
        """Begin the shutdown, then wait (at most ``timeout`` seconds) until every request
        counted by ``holding`` has ended."""
        if self.begun:
            return
        held = +self._held
        self._begun.set()
        for callback in self.on_begin:
            callback()
        log.info("shutting down: ending what holds a connection open (%s)", _said(held))
        try:
            async with asyncio.timeout(timeout):
                await self._none_held.wait()
        except TimeoutError:
            log.warning("shutting down: %s still open after %.0f s", _said(self._held), timeout)


def _said(counts: Counter[str]) -> str:
    """``2 long-polls, 1 live session``, or ``nothing``."""
    said = [f"{n} {what}{'s' if n > 1 else ''}" for what, n in sorted(counts.items()) if n > 0]
    return ", ".join(said) or "nothing"
