"""A new config for a running collector without a restart: the same process takes it in place.

- Prometheus in agent mode runs with ``--web.enable-lifecycle``: ``POST /-/reload`` applies
  the config file and answers once it is done, 200, or 500 with the error (Prometheus keeps
  running the config it had).
- The OpenTelemetry Collector reloads on SIGHUP: it shuts its pipelines down and builds them
  again from the file. A config it cannot build ends the process, so the new file is first
  checked with the binary's own ``validate`` command; the reload is done when the health check
  answers again with a later ``upSince`` (the extension starts anew with the pipelines).

Each raises ``ReloadFailed`` when the collector did not take the config, saying whether its
process must be started again (it exited, or it is in a state nobody knows).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from phoenix_agent.children import Child
from phoenix_agent.failures import TaskFailed

__all__ = [
    "LIFECYCLE_FLAG",
    "ReloadFailed",
    "reload_otelcol",
    "reload_prometheus_agent",
    "validate_otelcol",
]

LIFECYCLE_FLAG = "--web.enable-lifecycle"
"""What a Prometheus agent needs on its command line to reload through ``/-/reload``."""


class ReloadFailed(TaskFailed):
    """The collector did not take the new config; ``restart`` when its process must be started
    again (it exited, or never said it was done)."""

    def __init__(self, message: str, *, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart


def reload_prometheus_agent(port: int, timeout: float) -> None:
    """``POST /-/reload`` on the agent's port: done on 200; the error it answers otherwise."""
    url = f"http://127.0.0.1:{port}/-/reload"
    try:
        response = httpx.post(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ReloadFailed(f"prometheus-agent did not answer {url}: {exc}") from exc
    if response.status_code != 200:
        raise ReloadFailed(
            f"prometheus-agent refused the new config ({response.status_code}): "
            f"{response.text.strip()}"
        )


def validate_otelcol(binary: str, config: Path, timeout: float) -> None:
    """``otelcol validate`` of ``config``: the collector's own check, without running it."""
    try:
        result = subprocess.run(
            [binary, "validate", f"--config={config}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ReloadFailed(f"otelcol validate did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        said = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ReloadFailed(f"otelcol refused the new config: {said}")


def reload_otelcol(child: Child, health_url: str, timeout: float) -> None:
    """SIGHUP, then wait until the health check answers with a later ``upSince``."""
    before = _up_since(health_url)
    os.kill(child.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise ReloadFailed(f"otelcol (pid {child.pid}) exited while reloading", restart=True)
        now = _up_since(health_url)
        if now is not None and now != before:
            return
        time.sleep(0.1)
    raise ReloadFailed(
        f"otelcol was not healthy again ({health_url}) within {timeout:.0f} s", restart=True
    )


def _up_since(health_url: str) -> str | None:
    """When the health check extension last became ready (None: not answering 200 now)."""
    try:
        response = httpx.get(health_url, timeout=1)
        if response.status_code != 200:
            return None
        return str(response.json().get("upSince"))
    except (httpx.TransportError, ValueError):
        return None
