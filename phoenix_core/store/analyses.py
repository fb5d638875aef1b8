"""Analysis results: one analysis per experiment and its KPI rows, replaced whole on recompute.

Two kinds of ``kpi_results`` row (``KpiRow``): per variant and host (``host`` set), the KPI's
median over the window with the raw samples in ``details`` (what a recompute reads back); and
per variant over all hosts (``host`` None), the verdict's comparison of a candidate with the
baseline (change %, its interval, p-value, the rest in ``details``) or the baseline's own centre.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phoenix_core.store.tables import AnalysisRow, KpiResultRow
from phoenix_core.store.types import utcnow

__all__ = ["AnalysisRecord", "AnalysisRepository", "KpiRow"]


class KpiRow(BaseModel):
    """One KPI of one variant, on one host or over all of them, over the window."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    variant: str
    host: str | None = Field(description="The host; null: the variant over all its hosts.")
    kpi: str
    value: float | None = Field(description="Median over the window (per host) or the centre.")
    unit: str
    query: str
    window_start: datetime
    window_end: datetime
    change_percent: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AnalysisRecord(BaseModel):
    """An experiment's latest analysis."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    experiment_id: uuid.UUID
    outcome: str
    winner: str | None
    reasons: list[str]
    candidates: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    window_start: datetime
    window_end: datetime
    source: str
    computed_by: str
    computed_at: datetime


class AnalysisRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def replace(self, analysis: AnalysisRecord, rows: Sequence[KpiRow]) -> None:
        """Store ``analysis`` and its rows in place of the experiment's earlier ones."""
        experiment_id = analysis.experiment_id
        self._session.execute(
            delete(KpiResultRow).where(KpiResultRow.experiment_id == experiment_id)
        )
        self._session.execute(delete(AnalysisRow).where(AnalysisRow.experiment_id == experiment_id))
        self._session.add(AnalysisRow(**analysis.model_dump()))
        now = utcnow()
        self._session.add_all(
            KpiResultRow(experiment_id=experiment_id, computed_at=now, **row.model_dump())
            for row in rows
        )
        self._session.flush()

    def get(self, experiment_id: uuid.UUID) -> AnalysisRecord | None:
        row = self._session.get(AnalysisRow, experiment_id)
        return None if row is None else AnalysisRecord.model_validate(row)

    def rows(self, experiment_id: uuid.UUID, *, per_host: bool | None = None) -> list[KpiRow]:
        """The analysis's rows, in the order stored; ``per_host`` True or False: one kind."""
        query = select(KpiResultRow).where(KpiResultRow.experiment_id == experiment_id)
        if per_host is True:
            query = query.where(KpiResultRow.host.is_not(None))
        elif per_host is False:
            query = query.where(KpiResultRow.host.is_(None))
        found = self._session.scalars(query.order_by(KpiResultRow.id))
        return [
            KpiRow.model_validate(row).model_copy(update={"details": row.details or {}})
            for row in found
        ]
