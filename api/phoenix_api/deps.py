"""Dependencies shared by the routers: the caller, the store, the queue, settings.

All ``async def``: they only read request state, and FastAPI would run a plain ``def``
dependency on a worker thread (a thread hop per dependency per request). And none depends on
another: each level of nesting is one more round of FastAPI's dependency solving on every
request (the checks read the principal the authentication middleware left themselves).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from phoenix_core.auth import Forbidden, Principal, Role, TokenKind
from phoenix_core.controller import Controller
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.queue import TaskQueue
from phoenix_core.store.hot_paths import HotPaths
from phoenix_core.store.session import Store

__all__ = [
    "Admin",
    "ControllerDep",
    "ControllerSettingsDep",
    "EnrolmentDep",
    "HostDep",
    "HotPathsDep",
    "Operator",
    "PrincipalDep",
    "QueueDep",
    "StoreDep",
    "Viewer",
    "requires",
]


def _caller(request: Request) -> Principal:
    principal: Principal = request.scope["state"]["principal"]  # BearerAuthentication's
    return principal


async def _principal(request: Request) -> Principal:
    return _caller(request)


async def _host(request: Request) -> Principal:
    principal = _caller(request)
    if principal.kind is not TokenKind.HOST or principal.host_id is None:
        raise Forbidden("This is for agents: it needs a host token.")
    return principal


def requires(role: Role) -> Any:
    """A dependency that lets through only users whose role allows ``role``."""

    async def check(request: Request) -> Principal:
        principal = _caller(request)
        principal.require(role)
        return principal

    return Depends(check)


Viewer = Annotated[Principal, requires(Role.VIEWER)]
Operator = Annotated[Principal, requires(Role.OPERATOR)]
Admin = Annotated[Principal, requires(Role.ADMIN)]


async def _controller(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller


async def _enrolment(request: Request) -> Principal:
    principal = _caller(request)
    if principal.kind is not TokenKind.ENROLMENT:
        raise Forbidden("Enrolling a host needs an enrolment token.")
    return principal


EnrolmentDep = Annotated[Principal, Depends(_enrolment)]


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _queue(request: Request) -> TaskQueue:
    queue: TaskQueue = request.app.state.queue
    return queue


async def _hot_paths(request: Request) -> HotPaths:
    hot_paths: HotPaths = request.app.state.hot_paths
    return hot_paths


async def _controller_settings(request: Request) -> ControllerSettings:
    settings: ControllerSettings = request.app.state.controller_settings
    return settings


PrincipalDep = Annotated[Principal, Depends(_principal)]
HostDep = Annotated[Principal, Depends(_host)]
StoreDep = Annotated[Store, Depends(_store)]
QueueDep = Annotated[TaskQueue, Depends(_queue)]
HotPathsDep = Annotated[HotPaths, Depends(_hot_paths)]
ControllerSettingsDep = Annotated[ControllerSettings, Depends(_controller_settings)]
ControllerDep = Annotated[Controller, Depends(_controller)]
