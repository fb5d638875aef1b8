"""Stopping a process and the process group it leads: SIGTERM, a grace period, then SIGKILL.

Light (the standard library and psutil only): the agent stops its collectors and loads with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any, Literal, Protocol

import psutil

__all__ = ["KILL_WAIT_SECONDS", "Stoppable", "signal_group", "stop_process_group"]

KILL_WAIT_SECONDS = 10.0
"""How long a process is waited for after its SIGKILL."""


class Stoppable(Protocol):
    """A process as its owner knows it, e.g. the agent's ``Child`` (which also recognises a
    process it adopted after a restart by its start time). A ``Popen`` is taken as is."""

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def wait(self, timeout: float) -> bool:
        """Whether it ended within ``timeout`` seconds."""
        ...


def stop_process_group(
    process: subprocess.Popen[Any] | Stoppable,
    grace_seconds: float,
    *,
    term: Literal["group", "process"] = "group",
    kill: Literal["group", "process"] = "group",
    sweep: bool = False,
) -> bool:
    """Stop ``process`` and the process group it leads: SIGTERM, up to ``grace_seconds`` for it
    to end, then SIGKILL and up to ``KILL_WAIT_SECONDS`` more; whether it ended. A ``Popen`` is
    reaped; a process or group that is gone already is fine.

    ``term`` and ``kill`` say who gets each signal: the group, or the process alone (one that
    shares its parent's group; an agent that drains on SIGTERM). Without ``sweep`` nothing is
    signalled once the process has ended (or when it had already). With ``sweep`` the group gets
    its SIGKILL in any case (what outlived its leader), and so does every descendant that left
    the group (as found before the SIGTERM).
    """
    leader = _Popen(process) if isinstance(process, subprocess.Popen) else process
    stragglers = _descendants(leader.pid) if sweep else []
    ended = not leader.alive()
    if not ended:
        _signal(leader.pid, signal.SIGTERM, term)
        ended = leader.wait(grace_seconds)
    if sweep or not ended:
        _signal(leader.pid, signal.SIGKILL, kill)
        ended = leader.wait(KILL_WAIT_SECONDS)
    for straggler in stragglers:
        with contextlib.suppress(psutil.Error):
            straggler.kill()
    return ended


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group; one that is gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal(pid: int, sig: signal.Signals, whom: Literal["group", "process"]) -> None:
    if whom == "group":
        signal_group(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


class _Popen:
    """A ``Popen`` as a ``Stoppable``: waiting for it reaps it."""

    def __init__(self, popen: subprocess.Popen[Any]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def wait(self, timeout: float) -> bool:
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
