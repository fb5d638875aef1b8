"""How a route reaches what it needs: its caller and the app's services.

- **Services**, one way for every route: ``services(request)`` (or the WebSocket) gives the
  :class:`Services` that ``create_app`` built once. A plain call rather than a FastAPI
  dependency, so that the hottest routes pay no dependency solving (``bench/README.md``).
- **The caller**: ``caller(request)`` is the principal the authentication middleware checked;
  agents' routes (all of ``/agent/`` but enrolment) take their host from
  ``calling_host(request)``. Roles above viewer are gates in the signature: ``Operator``,
  ``Admin``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from phoenix_api.authentication import PrincipalCache, require_host
from phoenix_api.event_hub import EventHub
from phoenix_api.settings import ApiSettings
from phoenix_api.shutdown import Shutdown
from phoenix_core.auth import Principal, Role
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.fast_path import FastPath
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import TaskQueue
from phoenix_core.store.session import Store
from phoenix_core.use_cases.analysis import Analyses
from phoenix_core.use_cases.cardinality import Cardinality
from phoenix_core.use_cases.experiments import Experiments
from phoenix_core.use_cases.recommendations import Recommendations

__all__ = ["Admin", "Operator", "Services", "caller", "calling_host", "requires", "services"]


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes use, built once per app by ``create_app``."""

    settings: ApiSettings
    store: Store
    queue: TaskQueue
    fast_path: FastPath
    controller_settings: ControllerSettings
    experiments: Experiments
    analyses: Analyses
    cardinality: Cardinality
    recommendations: Recommendations
    library: TemplateLibrary
    event_hub: EventHub
    tokens: PrincipalCache
    shutdown: Shutdown


def services(connection: HTTPConnection) -> Services:
    """The app's services, for a request or a WebSocket."""
    found: Services = connection.app.state.services
    return found


def caller(connection: HTTPConnection) -> Principal:
    """Who is calling, as the authentication middleware found."""
    principal: Principal = connection.scope["state"]["principal"]
    return principal


def calling_host(connection: HTTPConnection) -> uuid.UUID:
    """The calling agent's host, for the routes under ``/agent/`` (but enrolment): the
    authentication middleware let only host tokens through to them, before the body was read."""
    return require_host(caller(connection))


def requires(role: Role) -> Any:
    """A dependency that lets through only users whose role allows ``role`` (any user may
    call ``/api/``, the authentication middleware checked that: this is for roles above)."""

    async def check(request: Request) -> Principal:
        principal = caller(request)
        principal.require(role)
        return principal

    return Depends(check)


Operator = Annotated[Principal, requires(Role.OPERATOR)]
Admin = Annotated[Principal, requires(Role.ADMIN)]
