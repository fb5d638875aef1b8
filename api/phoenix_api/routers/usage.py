"""``/api/v1/usage-sources`` and ``/api/v1/usage``: the rule files, Grafana dashboards and query
lists that read the fleet's metrics, uploaded and versioned; what they read, by metric."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from phoenix_api.deps import Admin, Operator, services
from phoenix_core.spec import USAGE_SOURCE_NAME
from phoenix_core.usage import LabelUse, MetricUse, QueryUsage
from phoenix_core.use_cases import usage
from phoenix_core.use_cases.usage import (
    Counts,
    MetricUsage,
    SourceQueries,
    UsageKind,
    UsageReport,
)

router = APIRouter(tags=["usage"])

SOURCES = "/api/v1/usage-sources"
_LARGEST_VERSION = 2**31 - 1  # the column's


class UsageSourceCreate(BaseModel):
    """An upload: the file's text under a name, as a version of that source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=f"^{USAGE_SOURCE_NAME}$",
        description="The source's name, like a file's (node-rules, web-dashboard).",
    )
    kind: UsageKind = Field(description="What the content is.")
    content: str = Field(
        description="The file's text as it is: a rule file's YAML, a dashboard's JSON, or "
        "PromQL queries one a line."
    )


class UsageVersionPublic(BaseModel):
    version: int = Field(description="1 for the first upload, then one more for each change.")
    sha256: str = Field(description="SHA-256 of the content (UTF-8), hex.")
    size_bytes: int
    created_by: str
    created_at: datetime


class UsageSourcePublic(BaseModel):
    name: str
    kind: UsageKind
    created_by: str = Field(description="Who uploaded the first version.")
    created_at: datetime
    version_count: int
    latest: UsageVersionPublic


class UsageSourceDetail(UsageSourcePublic):
    versions: list[UsageVersionPublic] = Field(description="Every version, oldest first.")


class CountsPublic(BaseModel):
    total: int
    ok: int = Field(description="Queries read.")
    error: int = Field(description="Queries that failed to parse.")
    skipped: int = Field(description="Queries deliberately not read (not PromQL, empty).")


class MetricUsePublic(BaseModel):
    """A metric (a name, or a pattern over names) and the labels of it a query depends on."""

    metric: str = Field(description="A metric name, or a pattern as a selector.")
    is_pattern: bool
    labels: list[str] = Field(description="The labels named (each is used).")
    all_labels: bool = Field(description="Every other label is used too (but all_except).")
    all_except: list[str]
    label_use: str = Field(description="The same in words ('job', 'all labels except pid').")


class QuerySourcePublic(BaseModel):
    """Where a query was found: the file (the source's name) and, by kind, the rule's group and
    name, the dashboard and panel (or templating variable), or the line."""

    kind: Literal["rules", "dashboard", "list"]
    file: str
    group: str | None
    rule: str | None
    rule_type: Literal["alert", "record"] | None
    dashboard_uid: str | None
    dashboard_title: str | None
    panel_id: int | None
    panel_title: str | None
    ref_id: str | None
    variable: str | None
    line: int | None


class QueryRecordPublic(BaseModel):
    source: QuerySourcePublic
    where: str = Field(description="The source in one line.")
    query: str = Field(description="As written.")
    expanded: str = Field(description="As parsed (template variables replaced).")
    status: Literal["ok", "error", "skipped"]
    message: str | None = Field(description="Why it failed (error) or was not read (skipped).")
    uses: list[MetricUsePublic]


class UsageUploadPublic(BaseModel):
    name: str
    kind: UsageKind
    created: bool = Field(description="False: the latest version held this content already.")
    version: UsageVersionPublic
    complete: bool = Field(description="Every query was read (no error).")
    counts: CountsPublic
    problems: list[QueryRecordPublic] = Field(
        description="The queries not read (error, skipped), with their sources."
    )


class SourceQueriesPublic(BaseModel):
    name: str
    kind: UsageKind
    version: UsageVersionPublic
    complete: bool
    counts: CountsPublic
    records: list[QueryRecordPublic] = Field(description="One per query, in the file's order.")


class SourceReadPublic(BaseModel):
    name: str
    kind: UsageKind
    version: int
    sha256: str
    complete: bool
    counts: CountsPublic


class MetricUsagePublic(MetricUsePublic):
    """Who reads a metric: the labels every query reading it depends on, taken together."""

    queries: int = Field(description="How many queries read it (0: none of these sources).")
    sources: list[str] = Field(description="The sources those queries are in.")
    via: list[str] = Field(description="The references that read it: its name, patterns.")


class UsageReportPublic(BaseModel):
    sources: list[SourceReadPublic] = Field(description="The source versions read.")
    complete: bool = Field(
        description="False while a query failed to parse: it could read any metric."
    )
    counts: CountsPublic
    metrics: list[MetricUsagePublic]


@router.post(
    SOURCES,
    response_model=UsageUploadPublic,
    status_code=201,
    responses={
        200: {
            "model": UsageUploadPublic,
            "description": "The latest version holds this content already: nothing stored.",
        }
    },
)
def add_usage_source(
    body: UsageSourceCreate, principal: Operator, request: Request, response: Response
) -> UsageUploadPublic:
    """Upload a rule file, a Grafana dashboard or a query list as the next version of the
    source ``name`` (operators): 201 and a new version, or 200 and the latest one when it holds
    this content already. Content that is not of its kind is refused (422 naming ``content``);
    queries that do not parse are reported in ``problems``, with their sources, and the rest
    is read. 409 if ``name`` holds another kind. A body over ``PHOENIX_MAX_BODY_BYTES`` (1 MiB
    by default; the content is escaped inside it) gets 413."""
    with services(request).store.session() as session:
        upload = usage.add_version(
            session, body.name, body.kind, body.content, actor=principal.actor
        )
    found = upload.queries
    response.status_code = 201 if upload.created else 200
    response.headers["Location"] = f"{SOURCES}/{found.source.name}"
    return UsageUploadPublic(
        name=found.source.name,
        kind=found.source.kind,
        created=upload.created,
        version=UsageVersionPublic(**found.version.model_dump()),
        complete=found.complete,
        counts=_counts(found.counts),
        problems=[_record(record) for record in found.records if record.status != "ok"],
    )


@router.get(SOURCES, response_model=list[UsageSourcePublic])
def list_usage_sources(request: Request) -> list[UsageSourcePublic]:
    """Every usage source, by name, with its latest version."""
    with services(request).store.session() as session:
        found = usage.sources(session)
    return [UsageSourcePublic.model_validate(source.model_dump()) for source in found]


@router.get(SOURCES + "/{name}", response_model=UsageSourceDetail)
def get_usage_source(name: str, request: Request) -> UsageSourceDetail:
    """One usage source and every version of it; 404 names the sources there are."""
    with services(request).store.session() as session:
        source, versions = usage.source(session, name)
    return UsageSourceDetail(
        **source.model_dump(), versions=[UsageVersionPublic(**v.model_dump()) for v in versions]
    )


@router.get(SOURCES + "/{name}/queries", response_model=SourceQueriesPublic)
def get_usage_queries(
    name: str,
    request: Request,
    version: Annotated[
        int | None,
        Query(ge=1, le=_LARGEST_VERSION, description="A version number; default: the latest."),
    ] = None,
) -> SourceQueriesPublic:
    """Every query of a version of the source (default: the latest), each ``ok`` with the
    metrics and labels it reads, ``error`` with the parser's message, or ``skipped`` with the
    reason; each with its source (file, group and rule; dashboard and panel; line)."""
    with services(request).store.session() as session:
        found = usage.queries(session, name, version)
    return _source_queries(found)


@router.delete(SOURCES + "/{name}", status_code=204)
def delete_usage_source(name: str, principal: Admin, request: Request) -> Response:
    """Delete a usage source and all its versions (admins; the audit trail keeps an event).
    409 while an experiment that has not ended names it."""
    with services(request).store.session() as session:
        usage.delete_source(session, name, actor=principal.actor)
    return Response(status_code=204)


@router.get("/api/v1/usage", response_model=UsageReportPublic)
def get_usage(
    request: Request,
    sources: Annotated[
        str | None,
        Query(
            description="Comma-separated sources, NAME (its latest version) or NAME@VERSION; "
            "default: the latest version of every source."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        Query(description="One metric name: its row alone, resolved through patterns too."),
    ] = None,
) -> UsageReportPublic:
    """Who reads which metric, and which of its labels, over the latest version of every
    usage source or of ``sources``: one row per metric name or pattern read (or, with
    ``metric``, that metric's row, ``queries`` 0 when nothing reads it). ``complete`` is False
    while any query failed to parse. 404 for an unknown source or version."""
    references = None if sources is None else [s.strip() for s in sources.split(",") if s.strip()]
    with services(request).store.session() as session:
        report = usage.usage(session, references, metric)
    return _report(report)


def _counts(counts: Counts) -> CountsPublic:
    return CountsPublic(
        total=counts.total, ok=counts.ok, error=counts.error, skipped=counts.skipped
    )


def _labels(use: LabelUse) -> dict[str, object]:
    return {
        "labels": sorted(use.names),
        "all_labels": use.all_labels,
        "all_except": sorted(use.all_except),
        "label_use": str(use),
    }


def _use(use: MetricUse) -> MetricUsePublic:
    return MetricUsePublic(
        metric=use.metric.key, is_pattern=use.metric.is_pattern, **_labels(use.labels)
    )


def _record(record: QueryUsage) -> QueryRecordPublic:
    source = record.source
    return QueryRecordPublic(
        source=QuerySourcePublic(
            kind=source.kind,
            file=source.file,
            group=source.group,
            rule=source.rule,
            rule_type=source.rule_type,
            dashboard_uid=source.dashboard_uid,
            dashboard_title=source.dashboard_title,
            panel_id=source.panel_id,
            panel_title=source.panel_title,
            ref_id=source.ref_id,
            variable=source.variable,
            line=source.line,
        ),
        where=str(source),
        query=record.query,
        expanded=record.expanded,
        status=record.status,
        message=record.message,
        uses=[_use(use) for use in record.uses],
    )


def _source_queries(found: SourceQueries) -> SourceQueriesPublic:
    return SourceQueriesPublic(
        name=found.source.name,
        kind=found.source.kind,
        version=UsageVersionPublic(**found.version.model_dump()),
        complete=found.complete,
        counts=_counts(found.counts),
        records=[_record(record) for record in found.records],
    )


def _metric(row: MetricUsage) -> MetricUsagePublic:
    return MetricUsagePublic(
        metric=row.metric,
        is_pattern=row.is_pattern,
        queries=row.queries,
        sources=list(row.sources),
        via=list(row.via),
        **_labels(row.labels),
    )


def _report(report: UsageReport) -> UsageReportPublic:
    return UsageReportPublic(
        sources=[
            SourceReadPublic(
                name=read.source.name,
                kind=read.source.kind,
                version=read.version.version,
                sha256=read.version.sha256,
                complete=read.complete,
                counts=_counts(read.counts),
            )
            for read in report.sources
        ],
        complete=report.complete,
        counts=_counts(report.counts),
        metrics=[_metric(row) for row in report.metrics],
    )
