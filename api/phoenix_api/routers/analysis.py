"""``/api/v1/experiments/{id}/kpis``, ``…/verdict``, ``…/guardrail``, ``…/cost``,
``…/analysis``: an experiment's analysis.

Every number comes from the stored analysis (``phoenix_core.use_cases.analysis``), with its
unit, its window and the query it was measured by; 409 until the experiment is analysed.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from phoenix_api.deps import Operator, services
from phoenix_core.analysis.cost import Estimate, Fleet
from phoenix_core.analysis.verdict import WINNER_RULE
from phoenix_core.store.analyses import AnalysisRecord, KpiRow
from phoenix_core.use_cases.analysis import SampleSource
from phoenix_core.use_cases.cost import DEFAULT_PRICE_BOOK, experiment_cost
from phoenix_core.use_cases.guardrail_report import GuardrailReport

router = APIRouter(prefix="/api/v1/experiments", tags=["analysis"])

NOT_ANALYSED: dict[int | str, dict[str, Any]] = {409: {"description": "Not analysed yet."}}


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
    left_out = {"queries"} if samples else {"queries", "samples"}  # queries: …/guardrail's
    rows = [
        row.model_copy(
            update={"details": {k: v for k, v in row.details.items() if k not in left_out}}
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


@router.get("/{experiment_id}/guardrail", response_model=GuardrailReport, responses=NOT_ANALYSED)
def guardrail(experiment_id: uuid.UUID, request: Request) -> GuardrailReport:
    """The query guardrail: per candidate, every query of the experiment's usage sources, who
    reads it (alert, panel, list line), what became of it and the scoped query behind it; the
    lines of what would lose data; ``queries_preserved`` and its outcome in the verdict."""
    return services(request).analyses.guardrail(experiment_id)


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


class Amount(BaseModel):
    """A value with its confidence interval; null where it could not be computed (a meter
    whose usage was not measured), never 0."""

    value: float | None
    low: float | None
    high: float | None


def _amount(estimate: Estimate) -> Amount:
    low, value, high = (x if math.isfinite(x) else None for x in estimate.bounds)
    return Amount(value=value, low=low, high=high)


def _maybe(estimate: Estimate | None) -> Amount | None:
    return None if estimate is None else _amount(estimate)


class VariantCostAnswer(BaseModel):
    variant: str
    role: str
    usage_per_host: dict[str, Amount | None] = Field(
        description="Measured per host over the window: active_series (series), "
        "samples_per_second (samples/s), bytes_per_second (bytes/s)."
    )
    billable_per_month: Amount = Field(description="In the price book's meter unit.")
    monthly: Amount
    yearly: Amount
    savings_monthly: Amount | None
    savings_yearly: Amount | None


class CostAnswer(BaseModel):
    """Each variant's cost under one price book on a fleet, with the savings' intervals."""

    experiment_id: uuid.UUID
    price_book: str
    vendor: str
    meter: str
    currency: str
    source: str = Field(description="The public pricing page the figures were taken from.")
    taken: str = Field(description="The day they were read.")
    note: str
    fleet_hosts: int
    scrape_interval_seconds: float | None = Field(
        description="The interval costs are projected at; null: the experiment's own."
    )
    window_start: datetime
    window_end: datetime
    variants: list[VariantCostAnswer]


@router.get("/{experiment_id}/cost", response_model=CostAnswer, responses=NOT_ANALYSED)
def cost(
    experiment_id: uuid.UUID,
    request: Request,
    fleet_hosts: Annotated[int, Query(ge=1, le=10_000_000, description="Hosts to project on.")],
    price_book: Annotated[
        str, Query(min_length=1, max_length=100, description="A price book's name.")
    ] = DEFAULT_PRICE_BOOK,
    scrape_interval_seconds: Annotated[
        float | None, Query(gt=0, le=86_400, description="Project at this interval instead.")
    ] = None,
) -> CostAnswer:
    """Monthly and yearly cost per variant and the candidates' savings under a price book."""
    found = services(request)
    result = experiment_cost(
        found.store,
        found.analyses,
        experiment_id,
        book_name=price_book,
        fleet=Fleet(fleet_hosts, scrape_interval_seconds),
    )
    book = result.price_book
    return CostAnswer(
        experiment_id=experiment_id,
        price_book=book.name,
        vendor=book.vendor,
        meter=book.meter.value,
        currency=book.currency,
        source=book.source,
        taken=book.taken.isoformat(),
        note=book.note,
        fleet_hosts=fleet_hosts,
        scrape_interval_seconds=scrape_interval_seconds,
        window_start=result.window_start,
        window_end=result.window_end,
        variants=[
            VariantCostAnswer(
                variant=v.variant,
                role=v.role,
                usage_per_host={
                    "active_series": _amount(v.usage.active_series),
                    "samples_per_second": _maybe(v.usage.samples_per_second),
                    "bytes_per_second": _maybe(v.usage.bytes_per_second),
                },
                billable_per_month=_amount(v.cost.billable),
                monthly=_amount(v.cost.monthly),
                yearly=_amount(v.cost.yearly),
                savings_monthly=_maybe(v.cost.savings_monthly),
                savings_yearly=_maybe(v.cost.savings_yearly),
            )
            for v in result.variants
        ],
    )
