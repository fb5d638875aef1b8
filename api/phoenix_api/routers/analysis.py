"""``/api/v1/experiments/{id}/kpis``, ``…/verdict``, ``…/analysis``: an experiment's analysis.

Every number comes from the stored analysis (``phoenix_core.use_cases.analysis``), with its
unit, its window and the query it was measured by; 409 until the experiment is analysed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from phoenix_api.deps import Operator, services
from phoenix_core.analysis.verdict import WINNER_RULE
from phoenix_core.store.analyses import AnalysisRecord, KpiRow
from phoenix_core.use_cases.analysis import SampleSource

router = APIRouter(prefix="/api/v1/experiments", tags=["analysis"])

NOT_ANALYSED = {409: {"description": "Not analysed yet."}}


class KpiTable(BaseModel):
    """The KPIs of an experiment's last analysis."""

    experiment_id: uuid.UUID
    window_start: datetime
    window_end: datetime
    source: str = Field(description="Where the samples came from: measurements or stored.")
    computed_at: datetime
    kpis: list[KpiRow] = Field(
        description="Per variant over all its hosts (host null: the baseline's centre, and each "
        "candidate's change against it with its interval and p-value), then per variant and "
        "host (the median over the window; value null where there was no data, and why)."
    )


class CandidateOutcome(BaseModel):
    variant: str
    outcome: str
    reasons: list[str]
    notes: list[str]


class VerdictAnswer(BaseModel):
    """The verdict of an experiment's last analysis, with every comparison behind it."""

    experiment_id: uuid.UUID
    outcome: str = Field(description="pass, fail or inconclusive.")
    winner: str | None
    winner_rule: str = WINNER_RULE
    reasons: list[str]
    candidates: list[CandidateOutcome]
    gates: list[dict[str, Any]] = Field(description="The gates judged, after the spec's own.")
    missing: list[dict[str, str]] = Field(description="Each KPI, variant and host without data.")
    window_start: datetime
    window_end: datetime
    source: str
    computed_by: str
    computed_at: datetime
    comparisons: list[KpiRow] = Field(
        description="Per KPI: the baseline's row, then each candidate's (details: the statistics)."
    )


class AnalysisRequest(BaseModel):
    source: SampleSource = Field(
        default=SampleSource.STORED,
        description="stored: the samples kept with the last analysis; measurements: read "
        "Prometheus and the metrics cache again.",
    )


def _verdict(analysis: AnalysisRecord, rows: list[KpiRow]) -> VerdictAnswer:
    return VerdictAnswer(
        **analysis.model_dump(exclude={"candidates"}),
        candidates=[CandidateOutcome(**c) for c in analysis.candidates],
        comparisons=rows,
    )


@router.get("/{experiment_id}/kpis", response_model=KpiTable, responses=NOT_ANALYSED)
def kpis(
    experiment_id: uuid.UUID,
    request: Request,
    samples: Annotated[
        bool, Query(description="Include each host's raw samples (epoch seconds, values).")
    ] = False,
) -> KpiTable:
    """The KPIs per variant and per host, with units, windows and queries."""
    analysis, rows = services(request).analyses.stored(experiment_id)
    if not samples:
        rows = [
            row.model_copy(
                update={"details": {k: v for k, v in row.details.items() if k != "samples"}}
            )
            for row in rows
        ]
    return KpiTable(
        experiment_id=experiment_id,
        window_start=analysis.window_start,
        window_end=analysis.window_end,
        source=analysis.source,
        computed_at=analysis.computed_at,
        kpis=rows,
    )


@router.get("/{experiment_id}/verdict", response_model=VerdictAnswer, responses=NOT_ANALYSED)
def verdict(experiment_id: uuid.UUID, request: Request) -> VerdictAnswer:
    """The verdict, its reasons, each candidate's outcome and the winner."""
    analysis, rows = services(request).analyses.stored(experiment_id, per_host=False)
    return _verdict(analysis, rows)


@router.post(
    "/{experiment_id}/analysis",
    response_model=VerdictAnswer,
    responses={409: {"description": "Not completed, or nothing stored to recompute from."}},
)
def analyse(
    experiment_id: uuid.UUID,
    principal: Operator,
    request: Request,
    body: AnalysisRequest | None = None,
) -> VerdictAnswer:
    """Recompute a completed experiment's analysis (from stored samples, or measured again)."""
    source = (body or AnalysisRequest()).source
    analyses = services(request).analyses
    analyses.recompute(experiment_id, source, actor=principal.actor)
    analysis, rows = analyses.stored(experiment_id, per_host=False)
    return _verdict(analysis, rows)
