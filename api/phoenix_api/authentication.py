"""Bearer-token authentication, checked before anything reads a request's body.

An ASGI middleware (FastAPI reads the body before it resolves dependencies, so a dependency
would answer malformed bodies before missing tokens): every request under ``/api/`` or
``/agent/`` must carry ``Authorization: Bearer phx_…``; the principal goes into the request
state, where routes' dependencies check its kind and role.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from phoenix_api.problems import problem
from phoenix_core.auth import Principal, Unauthenticated

__all__ = ["PROTECTED_PREFIXES", "BearerAuthentication"]

PROTECTED_PREFIXES = ("/api/", "/agent/")


class BearerAuthentication:
    def __init__(self, app: ASGIApp, authenticate: Callable[[str], Principal]) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("This needs an 'Authorization: Bearer <token>' header.")
            principal = await run_in_threadpool(self.authenticate, token.strip())
        except Unauthenticated as exc:
            response = problem(401, str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="phoenix"'
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
