"""``/api/v1/pipelines``: templates, and rendering and forecasting before any experiment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from phoenix_api.deps import services
from phoenix_core.pipelines.preview import (
    ForecastResult,
    PipelineChoice,
    RenderResult,
    ValidationReport,
    forecast_choice,
    render_choice,
    validate_choice,
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


class ValidateRequest(PipelineChoice):
    model_config = ConfigDict(extra="forbid")

    collectors: list[CollectorKind] | None = Field(
        default=None, description="Collectors to check; every supported one when omitted."
    )
    reference: list[dict[str, Any]] | None = Field(
        default=None, description="Series (labels and __value__) for value-dependent steps."
    )


class TemplateVersion(BaseModel):
    version: int
    description: str
    variables: list[str]
    refresh_seconds: int


class ForecastRequest(PipelineChoice):
    model_config = ConfigDict(extra="forbid")

    inventory: list[dict[str, Any]] = Field(
        description="Series as label maps; '__name__' required, '__value__' optional."
    )
    collector: CollectorKind | None = Field(
        default=None,
        description="Also compile for this collector with the inventory as reference values: "
        "a step it would refuse on these series (a drop that would merge them on "
        "prometheus-agent) is refused now, naming the step.",
    )


def _library(request: Request) -> TemplateLibrary:
    return services(request).library


@router.get("/templates", response_model=list[TemplateSummary])
def templates(request: Request) -> list[TemplateSummary]:
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
    name: str, request: Request, version: Annotated[int | None, Query(ge=1)] = None
) -> Template:
    """One template: its variables (types, defaults, bounds) and steps."""
    return _library(request).get(name, version)


@router.get("/templates/{name}/versions", response_model=list[TemplateVersion])
def template_versions(name: str, request: Request) -> list[TemplateVersion]:
    """Every version of a template, oldest first (variants may pin one)."""
    return [
        TemplateVersion(
            version=t.version,
            description=t.description,
            variables=sorted(t.variables),
            refresh_seconds=t.refresh_seconds,
        )
        for t in _library(request).versions(name)
    ]


@router.post("/validate", response_model=ValidationReport)
async def validate(body: ValidateRequest, request: Request) -> ValidationReport:
    """Does this choice render, and on which collectors? Problems name the field or step; a
    choice that is invalid still answers 200 (the report is the answer)."""
    choice = PipelineChoice(
        template=body.template, template_version=body.template_version, variables=body.variables
    )
    return await run_in_threadpool(
        validate_choice, choice, _library(request), body.collectors, reference=body.reference
    )


@router.post("/render", response_model=RenderResult)
async def render(body: RenderRequest, request: Request) -> RenderResult:
    """The complete collector config a variant with this choice would run (example ports)."""
    choice = PipelineChoice(
        template=body.template, template_version=body.template_version, variables=body.variables
    )
    return await run_in_threadpool(
        render_choice, choice, body.collector, _library(request), reference=body.reference
    )


@router.post("/forecast", response_model=ForecastResult)
async def forecast(body: ForecastRequest, request: Request) -> ForecastResult:
    """Series before and after, per metric and per step, for a given inventory."""
    choice = PipelineChoice(
        template=body.template, template_version=body.template_version, variables=body.variables
    )
    return await run_in_threadpool(
        forecast_choice, choice, body.inventory, _library(request), collector=body.collector
    )
