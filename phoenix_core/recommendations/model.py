"""What a recommendation says: the reduction it proposes (a template and its variables, as a
spec's variant names them), its forecast, its savings, the usage evidence and the critical
selectors it respects; and what was considered but refused, with why (docs/recommendations.md).

Pydantic models: the API answers them as they are, and the store keeps each recommendation as
its JSON document, so that ``POST /api/v1/recommendations/{id}/experiment`` finds it again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "Kind",
    "MetricChange",
    "ProposedPipeline",
    "Protection",
    "QueryEvidence",
    "Recommendation",
    "RecommendationSet",
    "Refusal",
    "Savings",
    "StepChange",
    "Target",
    "Timing",
    "UsageEvidence",
    "recommendation_id",
]


class Kind(StrEnum):
    """The reductions Phoenix proposes."""

    DROP_METRIC = "drop_metric"
    """A metric no query reads: every series of it goes (but those critical selectors match)."""
    DROP_LABELS = "drop_labels"
    """Labels of a read metric that no query depends on: removed, coinciding series summed."""
    TOP_K = "top_k"
    """A label that looks like processes, pods or ids: only its k biggest values are kept."""
    DROP_UNREAD_METRICS = "drop_unread_metrics"
    """Every metric recommended dropped alone (two or more), dropped in one step."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProposedPipeline(_Model):
    """The candidate variant's pipeline as a spec names it: a template and its variables."""

    template: str = Field(description="A pipeline template (docs/pipelines.md).")
    template_version: int = Field(description="The template's version it was rendered from.")
    variables: dict[str, Any] = Field(description="The template's variables.")


class QueryEvidence(_Model):
    """One query that reads a metric the recommendation touches, and what of it."""

    where: str = Field(
        description="Its source in one line: the usage source (name@version), then the rule "
        "(group, alert or record) or the dashboard and panel (or variable), or the line."
    )
    query: str = Field(description="As written.")
    metric: str = Field(description="The metric it reads.")
    labels: str = Field(description="The labels of it the query depends on, in words.")
    reads: str = Field(
        default="",
        description="top_k: which values of the label it reads ('process=\"kubelet\"', "
        "protected; or 'every value').",
    )


class UsageEvidence(_Model):
    """Who reads what the recommendation touches: ``summary`` in words, the queries (at most
    ``QUERIES_LISTED``) and how many there are; ``warning`` when it was computed from an
    incomplete usage (``accept_incomplete_usage``)."""

    summary: str
    query_count: int = Field(description="Queries reading the metrics it touches (0: none).")
    queries: list[QueryEvidence] = Field(description="The first of them, in the sources' order.")
    warning: str | None = Field(
        default=None,
        description="Null unless computed with accept_incomplete_usage from an incomplete "
        "usage: how many queries failed to parse and in which sources (NAME@VERSION). Such a "
        "query could read anything this recommendation removes: it may break it.",
    )


class Protection(_Model):
    """A critical selector and how many of the touched series it matches: those survive."""

    selector: str
    series: int = Field(description="Series of the touched metrics it matches (series).")


class MetricChange(_Model):
    metric: str
    series_before: int
    series_after: int


class StepChange(_Model):
    """One step of the proposed pipeline in the forecast (its waterfall)."""

    step: int
    kind: str
    series_in: int
    series_out: int


class Savings(_Model):
    """What the recommendation saves a month under a price book: the cost of every series the
    selector matched, before and with the recommendation, on ``fleet_hosts`` hosts scraped
    every ``scrape_interval_seconds``. Null where the book's meter needs what is not known
    (bytes for a GB-ingested book)."""

    price_book: str
    vendor: str
    meter: str
    currency: str
    fleet_hosts: int
    scrape_interval_seconds: float
    total_series_before: int = Field(description="Every series the selector matched (series).")
    total_series_after: int = Field(description="The same with this recommendation (series).")
    monthly_before: float | None
    monthly_after: float | None
    monthly: float | None = Field(description="Savings per month, in currency.")
    yearly: float | None = Field(description="Savings per year (12 months), in currency.")
    percent: float | None = Field(description="Of the monthly cost before.")


class Target(_Model):
    """A scrape target the touched series came from (their ``job`` and ``instance``)."""

    job: str
    instance: str
    series: int


class Recommendation(_Model):
    """One proposed reduction; ``id`` names the proposal (kind, collector, pipeline), so the same
    proposal computed again keeps it."""

    id: str
    kind: Kind
    title: str = Field(description="What it does, in one line.")
    metrics: list[str] = Field(description="The metrics its pipeline changes.")
    labels: list[str] = Field(description="The labels it drops (drop_labels) or ranks (top_k).")
    collector: CollectorKind
    pipeline: ProposedPipeline
    series_before: int = Field(description="Series of the metrics it reads, as they are.")
    series_after: int = Field(description="The same, through its pipeline (forecast).")
    series_change: int = Field(description="series_after - series_before (series).")
    change_percent: float
    samples_per_second_before: float = Field(
        description="series_before / scrape_interval_seconds (samples/s)."
    )
    samples_per_second_after: float
    per_metric: list[MetricChange]
    waterfall: list[StepChange]
    savings: Savings
    usage: UsageEvidence
    usage_sources: list[str] = Field(description="The usage sources read, NAME@VERSION.")
    critical_selectors: list[str] = Field(
        description="Every critical selector given: its pipeline protects the series they match."
    )
    protects: list[Protection] = Field(
        description="The critical selectors (and, for top_k, the values queries name) that "
        "match series it touches, with how many."
    )
    targets: list[Target] = Field(description="Where the touched series were scraped from.")
    selector: str
    start: datetime
    end: datetime
    computed_at: datetime


class Refusal(_Model):
    """A reduction considered and not proposed, and why."""

    kind: Kind
    metrics: list[str]
    labels: list[str]
    series: int = Field(description="Series of the metrics it would touch (series).")
    reason: str
    usage: UsageEvidence | None = None


class Timing(_Model):
    purpose: str
    seconds: float


class RecommendationSet(_Model):
    """Every recommendation for a selector over a window, ranked by savings, and the refusals."""

    selector: str
    start: datetime
    end: datetime
    collector: CollectorKind
    top_k: int
    total_series: int = Field(description="Series the selector matched in the window.")
    metric_count: int
    usage_sources: list[str] = Field(description="The usage sources read, NAME@VERSION.")
    usage_complete: bool = Field(
        description="False: a query failed to parse (or no usage source is stored); then "
        "nothing is proposed, unless accept_incomplete_usage (and some source is stored)."
    )
    accept_incomplete_usage: bool = Field(
        default=False,
        description="As asked: recommend from the queries that parsed even when some did not.",
    )
    usage_warning: str | None = Field(
        default=None,
        description="Null unless recommendations were computed from an incomplete usage "
        "(accept_incomplete_usage): how many queries failed to parse, in which sources; each "
        "recommendation's usage.warning says the same of it.",
    )
    price_book: str
    currency: str
    fleet_hosts: int
    scrape_interval_seconds: float
    monthly_cost: float | None = Field(description="Of every series matched, before any change.")
    recommendation_count: int
    refusal_count: int
    recommendations: list[Recommendation] = Field(description="Most savings first, up to limit.")
    refusals: list[Refusal] = Field(description="Most series first, up to limit.")
    notes: list[str] = Field(description="What the computation left out, and why.")
    timings: list[Timing] = Field(description="Where the time went (s).")


def recommendation_id(
    kind: Kind, collector: CollectorKind, template: str, version: int, variables: dict[str, Any]
) -> str:
    """The proposal's id: 16 hex digits of the SHA-256 of its kind, collector and pipeline."""
    content = {
        "kind": kind.value,
        "collector": collector.value,
        "template": template,
        "template_version": version,
        "variables": variables,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
