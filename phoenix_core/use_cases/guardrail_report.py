"""The query guardrail's findings of an experiment, as a table per candidate: every query of its
usage sources, where it is read (alert, panel, list line), what became of it on the candidate
and the scoped query behind the finding (``GET /api/v1/experiments/{id}/guardrail``).

Built from the stored analysis alone: the ``queries_preserved`` rows keep each candidate's
comparisons (``GuardrailResult.rows``) whether the KPI had a value or not. docs/guardrail.md
says what each outcome means.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from phoenix_core.guardrail import KPI, OUTCOMES
from phoenix_core.metrics.derived import ALL_HOSTS
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.analyses import AnalysisRecord, KpiRow
from phoenix_core.usage import SOURCE_COLUMNS

__all__ = ["GuardrailCandidate", "GuardrailQuery", "GuardrailReport", "guardrail_report"]

Outcome = Literal["preserved", "changed", "no_data", "failed", "not_evaluated"]


class GuardrailQuery(BaseModel):
    """One usage query on one candidate."""

    subject: str = Field(description='Who reads it: "alert `HighCPU`", "panel \'Requests\'…".')
    where: str = Field(description="Its source in one line (file › group › rule, or panel).")
    source: dict[str, Any] = Field(
        description="Its source's fields: kind, file, group, rule, rule_type, dashboard_uid, "
        "dashboard_title, panel_id, panel_title, ref_id, variable, line."
    )
    query: str = Field(description="As written in the source.")
    outcome: Outcome = Field(
        description="preserved (same label sets, values within tolerance), changed, no_data "
        "(nothing on either side to compare), failed (the receiver refused it), not_evaluated."
    )
    finding: str = Field(description="What became of it, in words.")
    baseline_series: int | None = Field(description="Series the baseline's result had (series).")
    candidate_series: int | None = Field(description="Series the candidate's result had (series).")
    max_difference: float | None = Field(
        description="The largest relative difference of a value both sides have (fraction)."
    )
    scoped_query: str | None = Field(
        description="The query as evaluated for this candidate (its identity matchers added)."
    )


class GuardrailCandidate(BaseModel):
    candidate: str
    queries_preserved: float | None = Field(
        description="Preserved queries among those compared (%); null: none could be compared."
    )
    outcome: str | None = Field(description="The KPI's outcome in the verdict (pass, fail, …).")
    counts: dict[Outcome, int] = Field(description="Queries per outcome.")
    lost: list[str] = Field(description="What would lose data, one line per changed query.")
    queries: list[GuardrailQuery] = Field(description="Every query, in the sources' order.")


class GuardrailReport(BaseModel):
    """The query guardrail of an experiment's last analysis."""

    experiment_id: uuid.UUID
    kpi: str = KPI
    judged: bool = Field(description="False: the experiment names no usage sources.")
    usage_sources: list[str] = Field(description="The spec's usage sources, as it names them.")
    how: str = Field(description="How the queries were read and compared (the KPI's query).")
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    candidates: list[GuardrailCandidate]


def guardrail_report(
    experiment_id: uuid.UUID, spec: ExperimentSpec, analysis: AnalysisRecord, rows: list[KpiRow]
) -> GuardrailReport:
    """The report from an analysis and its rows (per host and per variant, ``per_host=None``)."""
    mine = [row for row in rows if row.kpi == KPI]
    measured = {row.variant: row for row in mine if row.host == ALL_HOSTS}
    judged = {row.variant: row for row in mine if row.host is None}
    candidates = []
    for variant in spec.candidates:
        row = measured.get(variant.name)
        queries = [_query(q) for q in (row.details.get("queries", []) if row else [])]
        outcome = judged.get(variant.name)
        candidates.append(
            GuardrailCandidate(
                candidate=variant.name,
                queries_preserved=row.value if row else None,
                outcome=outcome.details.get("outcome") if outcome else None,
                counts={name: sum(q.outcome == name for q in queries) for name in OUTCOMES},
                lost=[f"{q.subject}: {q.finding}" for q in queries if q.outcome == "changed"],
                queries=queries,
            )
        )
    how = next((row.query for row in mine), "")
    return GuardrailReport(
        experiment_id=experiment_id,
        judged=bool(spec.usage_sources),
        usage_sources=[str(source) for source in spec.usage_sources],
        how=how,
        window_start=analysis.window_start,
        window_end=analysis.window_end,
        computed_at=analysis.computed_at,
        candidates=candidates if spec.usage_sources else [],
    )


def _query(row: dict[str, Any]) -> GuardrailQuery:
    source = {name: row.get(name) for name in SOURCE_COLUMNS}
    return GuardrailQuery(
        subject=row["subject"],
        where=row["source"],
        source=source,
        query=row["query"],
        outcome=row["outcome"],
        finding=row["finding"],
        baseline_series=_count(row.get("baseline_series")),
        candidate_series=_count(row.get("candidate_series")),
        max_difference=row.get("max_difference"),
        scoped_query=row.get("scoped_query"),
    )


def _count(value: Any) -> int | None:
    return None if value is None else int(value)
