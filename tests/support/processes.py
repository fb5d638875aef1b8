"""Start Phoenix's own command-line programs as real processes, and never leave one behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from phoenix_core.processes import stop_process_group

__all__ = [
    "BIN",
    "agent_process",
    "api_server",
    "exit_on_sigterm",
    "kill_processes_in",
    "run_cli",
    "stop_process",
]

BIN = Path(sys.executable).parent
"""The folder of the venv's console scripts (``phoenix``, ``phoenix-agent``)."""


def stop_process(process: subprocess.Popen[Any], grace_seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace_seconds``; reaped either way."""
    stop_process_group(process, grace_seconds, term="process", kill="process")


def exit_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, a CI stop) raise SystemExit, so that the ``finally`` blocks
    and exit stacks of a benchmark stop the servers it started instead of leaking them."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(extra)
    return env


def _spawn(
    command: Sequence[str], env: dict[str, str], stdout: Any, stderr: Any
) -> subprocess.Popen[str]:
    """``command`` (a program of this environment's, then its arguments) in a session of its
    own, with only the given ``PHOENIX_*`` variables."""
    program, *args = command
    return subprocess.Popen(
        [str(BIN / program), *args],
        env=_env(env),
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def run_cli(
    program: str, args: Sequence[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``program args`` with only the given ``PHOENIX_*`` variables set."""
    return subprocess.run(
        [str(BIN / program), *args],
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def api_server(
    env: dict[str, str], timeout: float = 60, port: int = 0, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``phoenix api serve --port PORT`` (a free one by default); yields its base URL (read
    from its first line). Its log (stderr) is appended to ``log`` if given (else a pipe that
    nothing reads while it runs: keep it quiet, as at the default INFO)."""
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("a")) if log is not None else subprocess.PIPE
        process = _spawn(
            ["phoenix", "api", "serve", "--port", str(port)], env, subprocess.PIPE, stderr
        )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        line = process.stdout.readline()
        if not line.startswith("Phoenix API listening on "):
            process.kill()
            _, said = process.communicate(timeout=10)
            said = log.read_text() if log is not None else said
            raise AssertionError(f"API did not start: {line!r}\n{said}")
        url = line.split()[4]
        assert time.monotonic() < deadline
        yield url, process
    finally:
        stop_process_group(process, grace_seconds=20)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


@contextmanager
def controller_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``phoenix controller run`` with only the given ``PHOENIX_*`` variables; stopped after."""
    process = _spawn(["phoenix", "controller", "run"], env, subprocess.DEVNULL, subprocess.DEVNULL)
    try:
        yield process
    finally:
        stop_process(process)


@contextmanager
def agent_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """``phoenix-agent run`` with only the given ``PHOENIX_*`` variables, its output appended
    to ``log``; drained with SIGTERM at the end (its collectors and load keep running), killed
    if it does not exit."""
    with log.open("a") as out:
        process = _spawn(["phoenix-agent", "run"], env, out, subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_process_group(process, grace_seconds=30, term="process")


def kill_processes_in(folder: Path) -> list[str]:
    """Kill every process whose working folder or command line is inside ``folder`` (what an
    agent under test started there); their command lines, for the test to report."""
    killed = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = process.info["cmdline"] or []
        cwd = process.info["cwd"] or ""
        if cwd.startswith(str(folder)) or any(str(folder) in arg for arg in cmdline):
            try:
                process.kill()
                killed.append(" ".join(cmdline))
            except psutil.Error:
                pass
    return killed
