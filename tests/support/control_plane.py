"""What the tests against a real ``phoenix api serve`` share: tokens made with the real CLI, a
host enrolled and online, and the settings that point a start's checks at a receiver."""

from __future__ import annotations

import httpx

import phoenix_core
from support.processes import run_cli
from support.prometheus import PrometheusServer

__all__ = ["cli_token", "online_host", "receiving_at"]


def cli_token(env: dict[str, str], *args: str) -> str:
    """A token from ``phoenix token create …`` or ``phoenix enrolment-token create …``."""
    result = run_cli("phoenix", list(args), env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def online_host(url: str, enrolment: str, hostname: str = "web-1") -> str:
    """Enrol ``hostname`` and send one healthy heartbeat; the host's own token."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {enrolment}"}) as c:
        body = {"hostname": hostname, "agent_version": phoenix_core.__version__}
        token: str = c.post("/agent/v1/register", json=body).json()["token"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        beat = {"agent_version": phoenix_core.__version__, "status": "healthy"}
        assert c.post("/agent/v1/heartbeat", json=beat).status_code == 200  # the host is online
    return token


def receiving_at(receiver: PrometheusServer) -> dict[str, str]:
    """The controller's settings that make ``receiver`` the default sink and the Prometheus
    it reads (what a start checks answers)."""
    return {
        "PHOENIX_CONTROLLER_PROMETHEUS_URL": receiver.url,
        "PHOENIX_CONTROLLER_REMOTE_WRITE_URL": receiver.remote_write_url,
    }
