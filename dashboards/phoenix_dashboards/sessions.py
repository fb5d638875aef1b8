"""Who is logged in: each login's API token, kept on the server, behind a random session id.

The browser holds only the session id (cookie ``SESSION_COOKIE``); the token never leaves the
server again once typed into the login page, and appears in no URL and no log line. Each
login has one ``CachedClient``, shared by all its pages and tabs. A session ends when it has
not been used for ``idle_seconds``, when the user logs out, or when the API refuses its token
(expired, revoked): the login page then says why (``farewell``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from phoenix_dashboards.data import CachedClient, DashboardClient

__all__ = ["IDLE_SECONDS", "SESSION_COOKIE", "LoginSession", "LoginSessions"]

SESSION_COOKIE = "phoenix_dashboards_session"
IDLE_SECONDS = 8 * 3600.0
"""A login unused for this long ends (the user logs in again)."""
FAREWELL_SECONDS = 600.0
"""How long the reason a session ended is kept for the login page to show."""


@dataclass
class LoginSession:
    id: str
    client: CachedClient
    last_used: float = field(default_factory=time.monotonic)


class LoginSessions:
    """Every login of one dashboards server (in its memory: a replica has its own)."""

    def __init__(
        self,
        connect: Callable[[str], DashboardClient],
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``connect(token)``: a client of the API with that token."""
        self._connect = connect
        self._idle = idle_seconds
        self._clock = clock
        self._sessions: dict[str, LoginSession] = {}
        self._farewells: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def client_for(self, token: str) -> DashboardClient:
        """A client with ``token``, not yet a session (the login page checks it first);
        ``ConfigurationError`` for a malformed token."""
        return self._connect(token)

    def open(self, client: DashboardClient) -> LoginSession:
        """A new session around a client whose token the API accepted."""
        session = LoginSession(secrets.token_urlsafe(32), CachedClient(client))
        session.last_used = self._clock()
        with self._lock:
            self._expire()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> LoginSession | None:
        """The live session of this id (and it counts as used), or None."""
        if not session_id:
            return None
        with self._lock:
            self._expire()
            session = self._sessions.get(session_id)
            if session is not None:
                session.last_used = self._clock()
            return session

    def end(self, session_id: str, reason: str) -> None:
        """End the session (its token forgotten, its client closed), remembering why (the
        first reason given: a page of an ended login only learns that it ended)."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is not None or session_id not in self._farewells:
                self._farewells[session_id] = (self._clock() + FAREWELL_SECONDS, reason)
        if session is not None:
            session.client.close()

    def farewell(self, session_id: str | None) -> str | None:
        """Why this session ended, once (the login page shows it), or None."""
        if not session_id:
            return None
        with self._lock:
            self._expire()
            _, reason = self._farewells.pop(session_id, (0.0, ""))
        return reason or None

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expire(self) -> None:
        now = self._clock()
        idle = [s for s in self._sessions.values() if now - s.last_used > self._idle]
        for session in idle:
            del self._sessions[session.id]
            self._farewells[session.id] = (
                now + FAREWELL_SECONDS,
                f"Your session ended after {self._idle / 3600:g} h without use: log in again.",
            )
            session.client.close()
        for key in [k for k, (until, _) in self._farewells.items() if until <= now]:
            del self._farewells[key]
