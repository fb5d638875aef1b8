"""``/api/v1/pipelines``: templates, and rendering and forecasting before any experiment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from phoenix_api.deps import Viewer
from phoenix_core.pipelines.preview import (
    ForecastResult,
    PipelineChoice,
    RenderResult,
    forecast_choice,
    render_choice,
)
from phoenix_core.pipelines.templates import Template, TemplateLibrary
from phoenix_core.wire.tasks import CollectorKind

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])


class TemplateSummary(BaseModel):
    name: str
    version: int
    description: str
    variables: list[str]


class RenderRequest(PipelineChoice):
    model_config = ConfigDict(extra="forbid")

    collector: CollectorKind = CollectorKind.PROMETHEUS_AGENT
    reference: list[dict[str, Any]] | None = Field(
        default=None, description="Series (labels and __value__) for value-dependent steps."
    )


class ForecastRequest(PipelineChoice):
    model_config = ConfigDict(extra="forbid")

    inventory: list[dict[str, Any]] = Field(
        description="Series as label maps; '__name__' required, '__value__' optional."
    )


def _library(request: Request) -> TemplateLibrary:
    library: TemplateLibrary = request.app.state.library
    return library


@router.get("/templates", response_model=list[TemplateSummary])
def templates(_: Viewer, request: Request) -> list[TemplateSummary]:
    """The newest version of every template."""
    library = _library(request)
    return [
        TemplateSummary(
            name=t.name, version=t.version, description=t.description, variables=sorted(t.variables)
        )
        for t in (library.get(name) for name in library.names())
    ]


@router.get("/templates/{name}", response_model=Template)
def template(
    name: str, _: Viewer, request: Request, version: Annotated[int | None, Query(ge=1)] = None
) -> Template:
    """One template: its variables (types, defaults, bounds) and steps."""
    return _library(request).get(name, version)


@router.post("/render", response_model=RenderResult)
async def render(body: RenderRequest, _: Viewer, request: Request) -> RenderResult:
    """The complete collector config a variant with this choice would run (example ports)."""
    choice = PipelineChoice(
        template=body.template, template_version=body.template_version, variables=body.variables
    )
    return await run_in_threadpool(
        render_choice, choice, body.collector, _library(request), reference=body.reference
    )


@router.post("/forecast", response_model=ForecastResult)
async def forecast(body: ForecastRequest, _: Viewer, request: Request) -> ForecastResult:
    """Series before and after, per metric and per step, for a given inventory."""
    choice = PipelineChoice(
        template=body.template, template_version=body.template_version, variables=body.variables
    )
    return await run_in_threadpool(forecast_choice, choice, body.inventory, _library(request))
