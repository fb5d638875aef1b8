"""Waiting for something a real process does, with a deadline that names what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["until"]

T = TypeVar("T")


def until(condition: Callable[[], T], what: str, timeout: float = 30) -> T:
    """``condition()`` once it is truthy; fail with "timed out waiting until <what>"."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
    return result
