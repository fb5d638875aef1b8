"""Processes the agent started, and found again after it restarted.

A ``Child`` answers the same questions for a process this agent spawned (a ``Popen``, reaped
when it exits) and for one adopted after a restart (known by pid, verified by its start time
and command line, so that a recycled pid is never mistaken for it). Each runs in its own
process group; ``terminate`` ends the whole group and any descendant that left it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import psutil

from phoenix_core.processes import stop_process_group

__all__ = ["Child", "Identity"]


@dataclass(frozen=True)
class Identity:
    """What tells a process apart from a later one that got the same pid."""

    pid: int
    create_time: float
    cmdline: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "cmdline": self.cmdline}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        return cls(int(data["pid"]), float(data["create_time"]), list(data["cmdline"]))


class Child:
    def __init__(self, identity: Identity, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.identity = identity
        self._popen = popen

    @property
    def pid(self) -> int:
        return self.identity.pid

    @classmethod
    def spawn(cls, command: list[str], **kwargs: Any) -> Child:
        """Start ``command`` in a process group of its own."""
        popen = subprocess.Popen(command, start_new_session=True, **kwargs)
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:  # already gone: alive() will say so
            create_time = 0.0
        return cls(Identity(popen.pid, create_time, list(command)), popen)

    @classmethod
    def adopt(cls, identity: Identity) -> Child | None:
        """The process of ``identity`` if it still runs (same start time, same command)."""
        try:
            process = psutil.Process(identity.pid)
            same = (
                abs(process.create_time() - identity.create_time) < 0.01
                and process.cmdline() == identity.cmdline
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return None
        return cls(identity) if same else None

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        try:
            process = psutil.Process(self.pid)
            return (
                abs(process.create_time() - self.identity.create_time) < 0.01
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    @property
    def returncode(self) -> int | None:
        """Its exit status when it was ours to reap; None for an adopted one."""
        return self._popen.returncode if self._popen is not None else None

    def wait(self, timeout: float) -> bool:
        """Whether it ended within ``timeout`` seconds."""
        if self._popen is not None:
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        try:
            psutil.Process(self.pid).wait(timeout=timeout)
        except psutil.TimeoutExpired:
            return not self.alive()
        except psutil.Error:
            pass
        return True

    def terminate(self, grace_seconds: float) -> None:
        """SIGTERM to its group, the grace period, then SIGKILL to the group and to any
        descendant that left it."""
        stop_process_group(self, grace_seconds, sweep=True)
