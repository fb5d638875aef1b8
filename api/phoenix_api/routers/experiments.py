"""``/api/v1/experiments``: create, read, edit drafts, start, stop, dry-run, audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel

from phoenix_api.deps import Operator, services
from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.events import EventRecord, EventRepository
from phoenix_core.store.experiments import (
    ExperimentPage,
    ExperimentRecord,
    ExperimentRepository,
    parse_page_cursor,
)
from phoenix_core.use_cases.dry_run import DryRun

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])


class EventPage(BaseModel):
    items: list[EventRecord]
    next_after: int | None


def _etag(record: ExperimentRecord) -> str:
    return f'"{record.version}"'


def _parse_etag(if_match: str) -> int:
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ValidationFailed(
            [FieldError(("header", "if-match"), "not an ETag of this API")]
        ) from None


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        return parse_page_cursor(cursor)
    except ValueError:
        raise ValidationFailed(
            [FieldError(("query", "cursor"), "not a cursor this API gave")]
        ) from None


@router.post("", response_model=ExperimentRecord, status_code=201)
def create(
    spec: ExperimentSpec,
    principal: Operator,
    request: Request,
    response: Response,
) -> ExperimentRecord:
    """Create a draft from a full spec (one baseline, one or more candidates); its hosts must
    resolve and every variant must render for them."""
    record = services(request).experiments.create(spec, actor=principal.actor)
    response.headers["Location"] = f"/api/v1/experiments/{record.id}"
    response.headers["ETag"] = _etag(record)
    return record


@router.get("", response_model=ExperimentPage)
async def list_experiments(
    request: Request,
    state: ExperimentState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """Summaries, newest first; pass ``next_cursor`` back as ``cursor`` for the next page.
    ``GET /api/v1/experiments/{id}`` has an experiment's whole record."""
    before = _parse_cursor(cursor) if cursor else None
    page = await services(request).fast_path.experiment_page(
        state=state, limit=limit, before=before
    )
    return Response(page, media_type="application/json")  # the page as the hot path wrote it


@router.get("/{experiment_id}", response_model=ExperimentRecord)
def get(experiment_id: uuid.UUID, request: Request, response: Response) -> ExperimentRecord:
    with services(request).store.session() as session:
        record = ExperimentRepository(session).get(experiment_id)
    response.headers["ETag"] = _etag(record)
    return record


@router.put("/{experiment_id}", response_model=ExperimentRecord)
def update(
    experiment_id: uuid.UUID,
    *,
    spec: ExperimentSpec,
    principal: Operator,
    request: Request,
    response: Response,
    if_match: Annotated[str, Header(description="The ETag of the version being edited.")],
) -> ExperimentRecord:
    """Replace a draft's spec; ``If-Match`` must carry the ETag of the version edited."""
    record = services(request).experiments.update(
        experiment_id, spec, expected_version=_parse_etag(if_match), actor=principal.actor
    )
    response.headers["ETag"] = _etag(record)
    return record


@router.delete("/{experiment_id}", status_code=204)
def delete(experiment_id: uuid.UUID, principal: Operator, request: Request) -> Response:
    """Delete a draft (its audit trail stays)."""
    services(request).experiments.delete(experiment_id, actor=principal.actor)
    return Response(status_code=204)


@router.post("/{experiment_id}/start", response_model=ExperimentRecord, status_code=202)
def start(experiment_id: uuid.UUID, principal: Operator, request: Request) -> ExperimentRecord:
    """Validate the draft (hosts resolve, every variant renders for every host) and schedule it."""
    return services(request).experiments.start(experiment_id, actor=principal.actor)


@router.post("/{experiment_id}/stop", response_model=ExperimentRecord, status_code=202)
def stop(experiment_id: uuid.UUID, principal: Operator, request: Request) -> ExperimentRecord:
    """Stop a running experiment: its collectors and load are stopped, then it is 'stopped'."""
    return services(request).experiments.stop(experiment_id, actor=principal.actor)


@router.post("/{experiment_id}/dry-run", response_model=DryRun)
def dry_run(experiment_id: uuid.UUID, request: Request) -> DryRun:
    """Validate and render every variant for every host (``plans``), forecast each variant's
    series (``forecast``: from the baseline's measured series once known, else from the load),
    and warn where a candidate cannot save anything (``warnings``); nothing is deployed."""
    return services(request).experiments.dry_run(experiment_id)


@router.get("/{experiment_id}/events", response_model=EventPage)
def events(
    experiment_id: uuid.UUID,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """The audit trail: every change, with its actor, oldest first, after event ``after``."""
    with services(request).store.session() as session:
        items = list(
            EventRepository(session).list(experiment_id=experiment_id, after_id=after, limit=limit)
        )
        if not items and after == 0:  # no trail at all: it never existed
            ExperimentRepository(session).get(experiment_id)
    return EventPage(items=items, next_after=items[-1].id if len(items) == limit else None)
