"""Bearer-token authentication, checked before anything reads a request's body.

An ASGI middleware (FastAPI reads the body before it resolves dependencies, so a dependency
would answer malformed bodies before missing tokens): every request under ``/api/`` or
``/agent/`` must carry ``Authorization: Bearer phx_…``; the principal goes into the request
state. The token's kind is checked here too, by path (``caller_allowed``): ``/api/`` is for
users (any role: a viewer's is the lowest), ``/agent/v1/register`` for enrolment tokens, the
rest of ``/agent/`` for hosts. Routes check only roles above viewer (``deps.Operator``,
``deps.Admin``), and agents' routes read their host (``deps.calling_host``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from phoenix_api.problems import problem
from phoenix_core.auth import Forbidden, Principal, Role, TokenKind, Unauthenticated, hash_token
from phoenix_core.clock import utcnow

__all__ = [
    "ENROLMENT_PATH",
    "INVALIDATING_EVENTS",
    "PROTECTED_PREFIXES",
    "BearerAuthentication",
    "PrincipalCache",
    "SessionToken",
    "caller_allowed",
    "require_host",
]

INVALIDATING_EVENTS = frozenset({"token_revoked", "host_decommissioned"})
"""Audit events after which a cached principal may no longer hold."""

USERS_PREFIX, AGENTS_PREFIX = "/api/", "/agent/"
PROTECTED_PREFIXES = (USERS_PREFIX, AGENTS_PREFIX)
ENROLMENT_PATH = "/agent/v1/register"
"""The one agent route that takes an enrolment token instead of a host's."""


def require_host(principal: Principal) -> uuid.UUID:
    """The principal's host; ``Forbidden`` for any token but a host's."""
    if principal.kind is not TokenKind.HOST or principal.host_id is None:
        raise Forbidden("This is for agents: it needs a host token.")
    return principal.host_id


def caller_allowed(path: str, principal: Principal) -> None:
    """``Forbidden`` unless the token's kind is the one for ``path`` (a protected one)."""
    if path.startswith(USERS_PREFIX):
        principal.require(Role.VIEWER)
    elif path == ENROLMENT_PATH:
        if principal.kind is not TokenKind.ENROLMENT:
            raise Forbidden("Enrolling a host needs an enrolment token.")
    else:
        require_host(principal)


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    until: float


class PrincipalCache:
    """Who holds a token, remembered so that most requests skip the token lookup: each for
    between half of and the whole of ``ttl_seconds``, at random (tokens first seen together,
    a fleet's agents after a restart, are not all looked up again in the same second), never
    past the token's expiry (``ttl_seconds`` 0: every token is looked up). A non-zero TTL
    only for a process that hears revocations: ``clear()`` runs on every ``token_revoked`` or
    ``host_decommissioned`` event, from any process (PostgreSQL NOTIFY), and whenever the
    listener reconnected (it may have missed some)."""

    def __init__(
        self, authenticate: Callable[[str], Awaitable[Principal]], ttl_seconds: float
    ) -> None:
        self._authenticate = authenticate
        self._ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._listeners: set[Callable[[], None]] = set()

    def cached(self, token: str) -> Principal | None:
        """The remembered principal, if any."""
        entry = self._entries.get(hash_token(token))
        if entry is None or entry.until <= time.monotonic():
            return None
        expires = entry.principal.expires_at
        return entry.principal if expires is None or expires > utcnow() else None

    async def __call__(self, token: str) -> Principal:
        if (principal := self.cached(token)) is not None:
            return principal
        with self._lock:
            generation = self._generation
        principal = await self._authenticate(token)  # raises for unknown, revoked, expired
        with self._lock:
            if self._ttl > 0 and generation == self._generation:  # no revocation heard since
                ttl = self._ttl * random.uniform(0.5, 1.0)  # noqa: S311 (not a secret)
                self._entries[hash_token(token)] = _Entry(principal, time.monotonic() + ttl)
        return principal

    @contextlib.contextmanager
    def listening(self, callback: Callable[[], None]) -> Iterator[None]:
        """Have ``callback`` called (from any thread) after each ``clear`` meanwhile: a
        session's token to check again."""
        with self._lock:
            self._listeners.add(callback)
        try:
            yield
        finally:
            with self._lock:
                self._listeners.discard(callback)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


class BearerAuthentication:
    def __init__(self, app: ASGIApp, tokens: PrincipalCache) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("This needs an 'Authorization: Bearer <token>' header.")
            principal = await self.tokens(token.strip())
        except Unauthenticated as exc:
            response = problem(401, str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="phoenix"'
            await response(scope, receive, send)
            return
        try:
            caller_allowed(scope["path"], principal)
        except Forbidden as exc:
            await problem(403, str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class SessionToken:
    """The token of a session that outlives a request (a WebSocket), checked again through
    the ``PrincipalCache`` the HTTP path uses: before each message (``check``), and by
    ``watch``, which raises once the token no longer holds (revoked, expired, or its role too
    low), found at least every ``every`` seconds, at its expiry, and as soon as the cache
    forgets (a revocation heard)."""

    def __init__(self, tokens: PrincipalCache, token: str, needed: Role, every: float) -> None:
        self._tokens = tokens
        self._token = token
        self._needed = needed
        self._every = every

    async def check(self) -> Principal:
        """Who holds the token now; ``Unauthenticated`` or ``Forbidden`` if it no longer may."""
        principal = await self._tokens(self._token)
        principal.require(self._needed)
        return principal

    async def watch(self) -> None:
        """Check the token until it fails (raising what ``check`` raised)."""
        loop = asyncio.get_running_loop()
        forgot = asyncio.Event()

        def wake() -> None:  # from any thread: the cache forgets where it hears a revocation
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(forgot.set)

        with self._tokens.listening(wake):
            while True:
                principal = await self.check()
                delay = self._every
                if principal.expires_at is not None:
                    left = (principal.expires_at - utcnow()).total_seconds()
                    delay = min(delay, max(left, 0.01))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await forgot.wait()
                forgot.clear()
