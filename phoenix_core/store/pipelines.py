"""Pipeline templates in the store: immutable, numbered versions of a named definition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.errors import Conflict, NotFound
from phoenix_core.store.tables import PipelineRow
from phoenix_core.store.types import utcnow

__all__ = ["PipelineRecord", "PipelineRepository"]


class PipelineRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    name: str
    version: int
    description: str
    definition: dict[str, Any]
    created_by: str
    created_at: datetime


class PipelineRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_version(
        self, name: str, definition: dict[str, Any], *, description: str = "", actor: str
    ) -> PipelineRecord:
        """Store ``definition`` as the next version of ``name`` (1 for a new name)."""
        latest = self._session.scalar(
            select(func.max(PipelineRow.version)).where(PipelineRow.name == name)
        )
        row = PipelineRow(
            name=name,
            version=(latest or 0) + 1,
            description=description,
            definition=definition,
            created_by=actor,
            created_at=utcnow(),
        )
        try:
            with self._session.begin_nested():
                self._session.add(row)
        except IntegrityError as exc:
            raise Conflict(
                f"Pipeline {name!r} got version {row.version} concurrently; try again."
            ) from exc
        return PipelineRecord.model_validate(row)

    def get(self, name: str, version: int | None = None) -> PipelineRecord:
        """One version of a pipeline; the newest when ``version`` is None."""
        query = select(PipelineRow).where(PipelineRow.name == name)
        if version is None:
            query = query.order_by(PipelineRow.version.desc()).limit(1)
        else:
            query = query.where(PipelineRow.version == version)
        row = self._session.scalar(query)
        if row is None:
            key = name if version is None else f"{name} version {version}"
            raise NotFound("pipeline", key)
        return PipelineRecord.model_validate(row)

    def versions(self, name: str) -> list[PipelineRecord]:
        rows = self._session.scalars(
            select(PipelineRow).where(PipelineRow.name == name).order_by(PipelineRow.version)
        ).all()
        if not rows:
            raise NotFound("pipeline", name)
        return [PipelineRecord.model_validate(row) for row in rows]

    def latest(self) -> list[PipelineRecord]:
        """The newest version of every pipeline, by name."""
        newest = (
            select(PipelineRow.name, func.max(PipelineRow.version).label("version"))
            .group_by(PipelineRow.name)
            .subquery()
        )
        rows = self._session.scalars(
            select(PipelineRow)
            .join(
                newest,
                (PipelineRow.name == newest.c.name) & (PipelineRow.version == newest.c.version),
            )
            .order_by(PipelineRow.name)
        ).all()
        return [PipelineRecord.model_validate(row) for row in rows]
