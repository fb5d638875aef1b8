"""Dependencies shared by the routers: the caller, the store, the queue, settings.

All ``async def``: they only read request state, and FastAPI would run a plain ``def``
dependency on a worker thread (a thread hop per dependency per request). And none depends on
another: each level of nesting is one more round of FastAPI's dependency solving on every
request (the checks read the principal the authentication middleware left themselves).

Agents' routes take their host from ``calling_host(request)`` (the authentication middleware
checked the token's kind). The routes agents and dashboards call all the time (a heartbeat, a
poll, the list of experiments) take their services from ``hot_services(request)``, instead of
a dependency each: FastAPI's solving costs ~25-30 µs per dependency per request, a tenth of
such a request under load (measured in-process at 16 concurrent requests, ``bench/README.md``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request

from phoenix_api.authentication import require_host
from phoenix_core.auth import Principal, Role
from phoenix_core.controller import Controller
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.queue import TaskQueue
from phoenix_core.store.hot_paths import HotPaths
from phoenix_core.store.session import Store

__all__ = [
    "Admin",
    "ControllerDep",
    "HotServices",
    "Operator",
    "PrincipalDep",
    "QueueDep",
    "StoreDep",
    "calling_host",
    "hot_services",
    "requires",
]


def _caller(request: Request) -> Principal:
    principal: Principal = request.scope["state"]["principal"]  # BearerAuthentication's
    return principal


async def _principal(request: Request) -> Principal:
    return _caller(request)


def calling_host(request: Request) -> uuid.UUID:
    """The calling agent's host, for the routes under ``/agent/`` (but enrolment): the
    authentication middleware let only host tokens through to them, before the body was read."""
    return require_host(_caller(request))


def requires(role: Role) -> Any:
    """A dependency that lets through only users whose role allows ``role`` (any user may
    call ``/api/``, the authentication middleware checked that: this is for roles above)."""

    async def check(request: Request) -> Principal:
        principal = _caller(request)
        principal.require(role)
        return principal

    return Depends(check)


Operator = Annotated[Principal, requires(Role.OPERATOR)]
Admin = Annotated[Principal, requires(Role.ADMIN)]


async def _controller(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.queue
    return queue


class HotServices(NamedTuple):
    queue: TaskQueue
    hot_paths: HotPaths
    settings: ControllerSettings


def hot_services(request: Request) -> HotServices:
    """The task queue, the hot paths and the controller's settings, for the hot routes."""
    state = request.app.state
    return HotServices(state.queue, state.hot_paths, state.controller_settings)


PrincipalDep = Annotated[Principal, Depends(_principal)]
StoreDep = Annotated[Store, Depends(_store)]
QueueDep = Annotated[TaskQueue, Depends(_queue)]
ControllerDep = Annotated[Controller, Depends(_controller)]
