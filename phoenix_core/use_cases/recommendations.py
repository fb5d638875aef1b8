"""Recommendations as users ask for them (``GET /api/v1/recommendations``): the inventory of a
selector over a window (``Cardinality``), the usage of the stored sources, the series of the
metrics a candidate touches from the same Prometheus, then ``phoenix_core.recommendations``;
each computed recommendation is stored under its id (those last computed longer ago than the
retention are deleted then, and read as absent until they are), and a draft experiment is made
of one (``POST /api/v1/recommendations/{id}/experiment``). See docs/recommendations.md.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from phoenix_core.clock import utcnow
from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.metrics.inventory_queries import Window
from phoenix_core.pipelines.inventory import NAME, VALUE
from phoenix_core.pipelines.selectors import Selector, SelectorError, parse_selector
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.recommendations import (
    DEFAULT_SERIES_BUDGET,
    Inputs,
    Pricing,
    Recommendation,
    RecommendationSet,
    recommend,
)
from phoenix_core.recommendations.completeness import completeness
from phoenix_core.recommendations.model import Timing
from phoenix_core.spec import ExperimentSpec, Sink, Source
from phoenix_core.store.experiments import ExperimentRecord
from phoenix_core.store.recommendations import RecommendationRepository
from phoenix_core.store.session import Store
from phoenix_core.usage import UsageIndex
from phoenix_core.use_cases.cardinality import MAX_LIMIT, Cardinality
from phoenix_core.use_cases.cost import DEFAULT_PRICE_BOOK
from phoenix_core.use_cases.experiments import Experiments
from phoenix_core.use_cases.price_books import price_book
from phoenix_core.use_cases.usage import usage
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_RETENTION",
    "DEFAULT_SCRAPE_INTERVAL",
    "DEFAULT_TOP_K",
    "MAX_SOURCES",
    "ExperimentDraft",
    "PrometheusSeries",
    "RecommendationQuery",
    "Recommendations",
    "SeriesReader",
    "draft_spec",
    "scrape_sources",
]

DEFAULT_LIMIT = 20
DEFAULT_TOP_K = 20
DEFAULT_SCRAPE_INTERVAL = 15.0
"""Seconds; the controller's default scrape interval."""
DEFAULT_RETENTION = timedelta(days=30)
"""How long a stored recommendation outlives its last computation (the API's
``PHOENIX_RECOMMENDATIONS_RETENTION_DAYS``)."""
MAX_SOURCES = 20
"""The most scrape targets a draft takes from a recommendation's series (more: give sources)."""
_QUERY_CHARS = 4_000  # metric names per series query: a URL of a few kB at most
_SOURCE_NAME = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class RecommendationQuery:
    """What a user asks recommendations for (``GET /api/v1/recommendations``'s parameters)."""

    selector: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    usage_sources: Sequence[str] | None = None
    """NAME or NAME@VERSION; None: the latest version of every stored source."""
    critical_selectors: Sequence[str] = ()
    collector: CollectorKind = CollectorKind.PROMETHEUS_AGENT
    price_book: str = DEFAULT_PRICE_BOOK
    fleet_hosts: int = 1
    scrape_interval_seconds: float = DEFAULT_SCRAPE_INTERVAL
    top_k: int = DEFAULT_TOP_K
    limit: int = DEFAULT_LIMIT
    accept_incomplete_usage: bool = False
    """Recommend from the queries that parsed even when some did not (each recommendation then
    warns of them); False: nothing is proposed while any query failed to parse."""


class ExperimentDraft(BaseModel):
    """What a draft experiment made of a recommendation needs beyond it: where it runs (hosts
    or host_selector) and, optionally, its name, sources, sink and durations."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Default: the recommendation's title.")
    description: str | None = Field(
        default=None,
        description="Default: why it is proposed. A recommendation computed from an incomplete "
        "usage puts its usage warning first either way.",
    )
    hosts: list[str] | None = Field(default=None, description="Hostnames; or host_selector.")
    host_selector: dict[str, str] | None = Field(
        default=None, description="Every active host with these labels; or hosts."
    )
    sources: list[Source] | None = Field(
        default=None,
        description="What the collectors scrape; default: the scrape targets (job, instance) "
        "the recommendation's series came from, each a 'scrape' source.",
    )
    sink: Sink | None = Field(default=None, description="Default: the controller's.")
    warmup_seconds: float | None = Field(default=None, ge=0)
    duration_seconds: float | None = Field(default=None, gt=0)


class SeriesReader(Protocol):
    """What fetching series needs of a store (``PrometheusReader``)."""

    def instant_series(
        self, query: str, at: datetime | None = None
    ) -> tuple[list[dict[str, str]], list[float]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PrometheusSeries:
    """The series of some metrics in the window, from the Prometheus the inventory read: one
    ``last_over_time`` per batch of names, evaluated at the window's end (each series in the
    window once, with its latest value)."""

    reader: SeriesReader
    window: Window

    def series(self, metrics: Sequence[str]) -> pd.DataFrame:
        labels: list[dict[str, str]] = []
        values: list[float] = []
        for names in _batches(metrics):
            regex = "|".join(names)  # metric names hold no regex metacharacter but ':'
            query = self.window.in_window(f'{NAME}=~"{regex}"')
            found, latest = self.reader.instant_series(query, self.window.end)
            labels += found
            values += latest
        if not labels:
            return pd.DataFrame({NAME: pd.Series([], dtype=str), VALUE: pd.Series([], dtype=float)})
        frame = pd.DataFrame.from_records(labels).fillna("")  # "": a label a series lacks
        frame[VALUE] = values
        return frame


def _batches(metrics: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for name in metrics:
        if batches[-1] and size + len(name) > _QUERY_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(name)
        size += len(name) + 1
    return [batch for batch in batches if batch]


@dataclass(frozen=True)
class Recommendations:
    """Recommendations over the Prometheus ``cardinality`` reads, and drafts made of them."""

    store: Store
    cardinality: Cardinality
    experiments: Experiments
    library: TemplateLibrary
    reader: Callable[[], SeriesReader]
    """Opens the Prometheus the series are fetched from (the one ``cardinality`` reads)."""
    series_budget: int = DEFAULT_SERIES_BUDGET
    clock: Callable[[], datetime] = field(default=utcnow)
    retention: timedelta = DEFAULT_RETENTION
    """A stored recommendation last computed longer ago is expired: deleted by the next
    computation, absent to ``get`` meanwhile."""

    @classmethod
    def from_prometheus(
        cls,
        store: Store,
        cardinality: Cardinality,
        experiments: Experiments,
        library: TemplateLibrary,
        *,
        prometheus_url: str,
        timeout: float = 120,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> Recommendations:
        """The production wiring: the series from the Prometheus at ``prometheus_url``."""
        from phoenix_core.metrics.reader import PrometheusReader

        def reader() -> SeriesReader:
            return PrometheusReader(prometheus_url, timeout=timeout)

        return cls(store, cardinality, experiments, library, reader, retention=retention)

    def compute(self, query: RecommendationQuery, *, actor: str) -> RecommendationSet:
        """Every recommendation for ``query``, ranked by savings (the first ``limit`` of them
        and of the refusals in the answer; every one stored under its id, and the expired ones
        deleted, in one transaction). ``ValidationFailed`` names each parameter at fault before
        anything is asked; ``NotFound`` for an unknown price book or usage source;
        ``MetricsUnavailable`` when Prometheus does not answer."""
        timings: list[Timing] = []
        began = time.perf_counter()
        critical = _checked(query, self.cardinality)
        with self.store.session() as session:
            book = price_book(session, query.price_book)
            report = usage(session, query.usage_sources)
        sources = tuple(f"{read.source.name}@{read.version.version}" for read in report.sources)
        index = UsageIndex(record for read in report.sources for record in read.records)
        usage_state = completeness(
            [(name, read.records) for name, read in zip(sources, report.sources, strict=True)],
            accept=query.accept_incomplete_usage,
        )
        timings.append(_timing("usage: the stored sources read", began))
        began = time.perf_counter()
        inventory = self.cardinality.inventory(query.selector, query.start, query.end, MAX_LIMIT)
        timings.append(_timing("inventory: Prometheus counts (GET /api/v1/cardinality)", began))
        inputs = Inputs(
            selector=inventory.selector,
            start=inventory.start,
            end=inventory.end,
            collector=query.collector,
            usage=index,
            usage_sources=sources,
            pricing=Pricing(book, query.fleet_hosts, query.scrape_interval_seconds),
            critical_selectors=tuple(selector.text for selector in critical),
            top_k=query.top_k,
            incomplete=usage_state.refused,
            usage_warning=usage_state.recommendation_warning,
            series_budget=self.series_budget,
        )
        window = Window(parse_selector(inventory.selector), inventory.start, inventory.end)
        now = self.clock()
        with closing(self.reader()) as reader:
            outcome = recommend(
                inputs,
                metrics=inventory.metrics,
                labels=inventory.labels,
                total_series=inventory.total_series,
                series=PrometheusSeries(reader, window),
                library=self.library,
                now=now,
            )
        with self.store.session() as session:
            stored = RecommendationRepository(session)
            stored.save(outcome.recommendations, actor=actor, computed_at=now)
            stored.expire(now - self.retention)
        notes = list(outcome.notes)
        if inventory.metric_count > len(inventory.metrics):
            notes.append(
                f"only the {len(inventory.metrics):,} metrics with the most series of "
                f"{inventory.metric_count:,} were considered: narrow the selector for the rest"
            )
        if inventory.label_count > len(inventory.labels):
            notes.append(
                f"only the {len(inventory.labels):,} (metric, label) rows with the most values "
                f"of {inventory.label_count:,} were considered"
            )
        if inputs.incomplete:
            notes.append(f"nothing is proposed: {inputs.incomplete}")
        if usage_state.note:
            notes.append(usage_state.note)
        return RecommendationSet(
            selector=inventory.selector,
            start=inventory.start,
            end=inventory.end,
            collector=query.collector,
            top_k=query.top_k,
            total_series=inventory.total_series,
            metric_count=inventory.metric_count,
            usage_sources=list(sources),
            usage_complete=usage_state.complete,
            accept_incomplete_usage=query.accept_incomplete_usage,
            usage_warning=usage_state.set_warning,
            price_book=book.name,
            currency=book.currency,
            fleet_hosts=query.fleet_hosts,
            scrape_interval_seconds=query.scrape_interval_seconds,
            monthly_cost=_number(inputs.pricing.cost(inventory.total_series)),
            recommendation_count=len(outcome.recommendations),
            refusal_count=len(outcome.refusals),
            recommendations=outcome.recommendations[: query.limit],
            refusals=outcome.refusals[: query.limit],
            notes=notes,
            timings=[*timings, *outcome.timings],
        )

    def get(self, recommendation_id: str) -> Recommendation:
        """The recommendation stored under ``recommendation_id``; ``NotFound`` if none, or if
        it expired (last computed longer ago than the retention)."""
        cutoff = self.clock() - self.retention
        with self.store.session() as session:
            found = RecommendationRepository(session).get(recommendation_id, computed_since=cutoff)
        if found is None:
            days = self.retention / timedelta(days=1)
            raise NotFound(
                "recommendation",
                recommendation_id,
                detail=f"No recommendation '{recommendation_id}' is stored: it expired (a "
                f"recommendation is kept {days:g} day{'' if days == 1 else 's'} after it was "
                "last computed) or was never computed. List them again (GET "
                "/api/v1/recommendations) to compute it again.",
            )
        return found

    def experiment(
        self, recommendation_id: str, draft: ExperimentDraft, *, actor: str
    ) -> ExperimentRecord:
        """A draft experiment: the baseline against the recommended pipeline, on the draft's
        hosts, scraping the targets the recommendation's series came from, with its critical
        selectors and usage sources. ``ValidationFailed`` names the field at fault."""
        found = self.get(recommendation_id)
        spec = ExperimentSpec.parse(draft_spec(found, draft))
        return self.experiments.create(spec, actor=actor)


def draft_spec(found: Recommendation, draft: ExperimentDraft) -> dict[str, Any]:
    """The spec of a draft experiment made of ``found`` (checked by ``ExperimentSpec``)."""
    if draft.sources is not None:
        sources: list[dict[str, Any]] = [source.model_dump() for source in draft.sources]
    else:
        sources = scrape_sources(found)
    saved = found.savings
    description = (
        f"Recommendation {found.id} ({found.kind.value}): {found.title}. Forecast: "
        f"{found.series_before:,} -> {found.series_after:,} series of the metrics it touches"
    )
    if saved.monthly is not None:
        description += (
            f"; saves {saved.monthly:,.2f} {saved.currency} a month under {saved.price_book} "
            f"on {saved.fleet_hosts:,} hosts"
        )
    description += f". Usage: {found.usage.summary}."
    description = draft.description or description
    if found.usage.warning:  # first, whoever wrote the rest: cut at 4,000 characters, it stays
        description = f"Computed from an incomplete usage: {found.usage.warning}. {description}"
    spec: dict[str, Any] = {
        "name": (draft.name or f"{found.title} (recommendation {found.id})")[:200],
        "description": description[:4000],
        "collector": found.collector.value,
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {
                "name": "recommended",
                "role": "candidate",
                "template": found.pipeline.template,
                "template_version": found.pipeline.template_version,
                "variables": found.pipeline.variables,
            },
        ],
        "hosts": draft.hosts,
        "host_selector": draft.host_selector,
        "sources": sources,
        "critical_selectors": found.critical_selectors,
        "usage_sources": found.usage_sources,
    }
    if draft.sink is not None:
        spec["sink"] = draft.sink.model_dump(mode="json", context={"reveal_secrets": True})
    for name in ("warmup_seconds", "duration_seconds"):
        if getattr(draft, name) is not None:
            spec[name] = getattr(draft, name)
    return spec


def scrape_sources(found: Recommendation) -> list[dict[str, Any]]:
    """One ``scrape`` source per target the series came from, named after its job (made a
    valid source name, numbered when a job has several targets); ``ValidationFailed`` naming
    ``sources`` when there is none or more than ``MAX_SOURCES``."""
    targets = found.targets
    if not targets:
        problem = "the recommendation's series name no scrape target (job and instance)"
        raise ValidationFailed([FieldError(("sources",), f"{problem}: give sources")])
    if len(targets) > MAX_SOURCES:
        problem = f"the recommendation's series come from {len(targets)} scrape targets"
        raise ValidationFailed(
            [FieldError(("sources",), f"{problem}, more than {MAX_SOURCES}: give sources")]
        )
    sources: list[dict[str, Any]] = []
    names: set[str] = set()
    for target in targets:
        base = _SOURCE_NAME.sub("-", target.job.lower()).strip("-_")[:60] or "target"
        name, number = base, 2
        while name in names:
            name, number = f"{base}-{number}", number + 1
        names.add(name)
        sources.append({"name": name, "kind": "scrape", "address": target.instance})
    return sources


def _checked(query: RecommendationQuery, cardinality: Cardinality) -> list[Selector]:
    """The critical selectors, parsed; ``ValidationFailed`` naming every parameter at fault."""
    errors: list[FieldError] = []
    critical = []
    for position, text in enumerate(query.critical_selectors):
        try:
            critical.append(parse_selector(text))
        except SelectorError as exc:
            errors.append(
                FieldError(("critical_selectors", position), f"not a series selector: {exc}")
            )
    for name, low, high, value in (
        ("fleet_hosts", 1, 10_000_000, query.fleet_hosts),
        ("top_k", 1, 10_000, query.top_k),
        ("limit", 1, 10_000, query.limit),
    ):
        if not low <= value <= high:
            errors.append(FieldError((name,), f"must be from {low} to {high:,}, not {value}"))
    if not 0 < query.scrape_interval_seconds <= 86_400:
        errors.append(FieldError(("scrape_interval_seconds",), "must be above 0 and at most 1 day"))
    try:
        cardinality.check(query.selector, query.start, query.end, MAX_LIMIT)
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    return critical


def _timing(purpose: str, began: float) -> Timing:
    return Timing(purpose=purpose, seconds=round(time.perf_counter() - began, 4))


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)  # NaN: the meter needs bytes
