"""The agent's side of ``/agent/v1`` (httpx): every failure sorted into what the agent does
about it.

- ``Unavailable``: try again later (no connection, a timeout, 5xx, 429); carries the
  server's ``Retry-After`` when it sent one.
- ``Fatal``: the agent cannot go on (401 a token unknown or revoked, 403, 410); its message is
  the one log line an operator needs.
- ``Refused``: this one request was refused (a stale report, a task this host does not hold,
  a config download answered 403 or 404); the loops carry on.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from typing import Any

import httpx

import phoenix_core
from phoenix_core.wire import Heartbeat
from phoenix_core.wire.agent_api import (
    MetricsBatch,
    PollResult,
    Registration,
    RegistrationResult,
    StatusReport,
)

__all__ = ["ControlPlane", "Fatal", "Refused", "Unavailable"]

_FATAL = frozenset({401, 403, 410})
_TOKEN_REFUSED = frozenset({401, 410})
"""For a config download: a 403 refuses that config, not the agent."""
_RETRY = {408, 425, 429, 500, 502, 503, 504}


class Unavailable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Fatal(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or message
        """What the API said (its problem document's ``detail``)."""


def _tls_for(base_url: str) -> ssl.SSLContext | bool:
    """Certificates verified against the CA bundle for ``https``; a plain-HTTP API uses no
    TLS, so loading the bundle (~3 MB of the agent's RSS) is skipped: the context given then
    trusts no certificate at all, should a redirect ever lead to TLS."""
    if httpx.URL(base_url).scheme == "https":
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class ControlPlane:
    """One HTTP connection pool to the API; ``token`` is the host's (or the enrolment one)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"phoenix-agent/{phoenix_core.__version__}",
            },
            timeout=timeout,
            verify=_tls_for(self.base_url),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def register(self, registration: Registration) -> RegistrationResult:
        body = registration.model_dump(mode="json")
        response = self._call("POST", "/agent/v1/register", json=body, fatal_conflict=True)
        return RegistrationResult.model_validate(response.json())

    def poll(self, *, wait: float, limit: int = 10) -> PollResult:
        """Claim tasks; with none ready the API holds the request up to ``wait`` seconds."""
        response = self._call(
            "GET",
            "/agent/v1/tasks",
            params={"wait": wait, "limit": limit},
            timeout=wait + self._timeout,
        )
        return PollResult.model_validate(response.json())

    def report(self, task_id: int, report: StatusReport) -> bool:
        """Whether the report changed the task (False: a repeat of one already applied)."""
        body = report.model_dump(mode="json", exclude_none=True)
        response = self._call("POST", f"/agent/v1/tasks/{task_id}/status", json=body)
        return bool(response.json()["applied"])

    def config(self, url: str) -> str:
        """A rendered collector config (``url`` as the task gives it, usually a path)."""
        return self._call("GET", url, fatal=_TOKEN_REFUSED).text

    def metrics(self, batch: MetricsBatch) -> int:
        """Samples stored in the control plane's metrics cache."""
        body = batch.model_dump(mode="json", exclude_none=True)
        return int(self._call("POST", "/agent/v1/metrics", json=body).json()["stored"])

    def heartbeat(self, heartbeat: Heartbeat) -> int:
        """Leases extended by this heartbeat."""
        body = heartbeat.model_dump(mode="json", exclude_none=True)
        return int(self._call("POST", "/agent/v1/heartbeat", json=body).json()["leases_extended"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        fatal_conflict: bool = False,
        fatal: frozenset[int] = _FATAL,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, timeout=timeout or self._timeout, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"{self.base_url} unreachable ({type(exc).__name__}: {exc})") from exc
        if response.is_success:
            return response
        detail = _detail(response)
        if response.status_code in fatal or (fatal_conflict and response.status_code == 409):
            raise Fatal(f"The Phoenix API refused this agent ({response.status_code}): {detail}")
        if response.status_code in _RETRY:
            raise Unavailable(
                f"{method} {path} answered {response.status_code}: {detail}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        raise Refused(response.status_code, f"{method} {path} refused: {detail}", detail)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return response.reason_phrase


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
