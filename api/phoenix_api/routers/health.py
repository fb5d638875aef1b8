"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from phoenix_api.deps import services
from phoenix_core.store.migrate import require_head

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (says nothing about the database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> Readiness:
    """Ready to serve: the database answers and its schema is at this code's head."""
    engine = services(request).store.engine
    status = await run_in_threadpool(require_head, engine)
    return Readiness(status="ready", database=engine.dialect.name, schema_revision=status.head)
