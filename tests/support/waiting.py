"""Waiting for something a real process does, with a deadline that names what was awaited; a
thread's blocking wait for a host's tasks (the API's long-polls watch from asyncio instead)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from phoenix_core.queue import TaskQueue

__all__ = ["until", "wait_for_tasks"]

T = TypeVar("T")


def until(condition: Callable[[], T], what: str, timeout: float = 30) -> T:
    """``condition()`` once it is truthy; fail with "timed out waiting until <what>"."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
    return result


def wait_for_tasks(queue: TaskQueue, host_id: uuid.UUID, timeout: float) -> bool:
    """Block until the host has claimable work (True) or ``timeout`` passes (False), woken by
    the queue's notifications. True also when woken by a cancellation (or a task another
    consumer took first): callers claim and read cancellations afterwards either way."""
    queue.listen()
    event = threading.Event()
    with queue.waiters.registered(host_id, event):
        if queue.has_claimable(host_id):
            return True
        return event.wait(timeout)
