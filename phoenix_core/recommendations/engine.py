"""From candidates to recommendations: the forecast simulator runs each candidate's pipeline over
the real series of the metrics it reads (fetched through a ``SeriesSource``, within a budget),
its collector's support table says whether it can run it, and the price book prices what it
removes; then the single drops that survived are combined into one (``combined``), forecast and
priced the same way; ranked by savings. Pure: the series come through the port, nothing else
is asked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from phoenix_core.analysis.cost import Estimate, Fleet, Usage, variant_cost
from phoenix_core.analysis.price_books import PriceBook
from phoenix_core.pipelines.collectors import SUPPORT
from phoenix_core.pipelines.inventory import NAME, normalize_inventory
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.pipelines.simulator import Forecast, forecast
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.recommendations.combined import unread_metrics_candidate
from phoenix_core.recommendations.model import (
    Kind,
    MetricChange,
    ProposedPipeline,
    Protection,
    Recommendation,
    Refusal,
    Savings,
    StepChange,
    Target,
    Timing,
    recommendation_id,
)
from phoenix_core.recommendations.rules import Candidate, plan
from phoenix_core.usage import UsageIndex
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "DEFAULT_SERIES_BUDGET",
    "FrameSeries",
    "Inputs",
    "Outcome",
    "Pricing",
    "SeriesSource",
    "rank_key",
    "recommend",
]

DEFAULT_SERIES_BUDGET = 250_000
"""The most series one request fetches to forecast: Prometheus reads and encodes each (~15 µs of
its CPU, ~170 bytes), Phoenix decodes it (~10 µs): ~7 s at this bound on the project's 2-core
machine (bench/README.md)."""


class SeriesSource(Protocol):
    """The series of some metrics in the window: one row per series, ``__name__``, one column
    per label (``""`` where absent) and ``__value__``, its latest value in the window."""

    def series(self, metrics: Sequence[str]) -> pd.DataFrame: ...


@dataclass(frozen=True)
class FrameSeries:
    """A ``SeriesSource`` over a frame in memory (tests, benchmarks); ``asked`` keeps each call."""

    frame: pd.DataFrame
    asked: list[tuple[str, ...]] = field(default_factory=list)

    def series(self, metrics: Sequence[str]) -> pd.DataFrame:
        self.asked.append(tuple(metrics))
        return self.frame[self.frame[NAME].isin(list(metrics))]


@dataclass(frozen=True)
class Pricing:
    """Savings under ``book`` for ``fleet_hosts`` times the series counted, each sending a
    sample every ``scrape_interval_seconds``."""

    book: PriceBook
    fleet_hosts: int = 1
    scrape_interval_seconds: float = 15.0

    def cost(self, series: float) -> float:
        """Monthly cost of ``series`` (NaN when the book's meter needs bytes)."""
        usage = Usage(
            Estimate(series), samples_per_second=Estimate(series / self.scrape_interval_seconds)
        )
        return variant_cost(self.book, usage, Fleet(self.fleet_hosts)).monthly.value


@dataclass(frozen=True)
class Inputs:
    """What a recommendation set is computed for, besides the inventory and the series."""

    selector: str
    start: datetime
    end: datetime
    collector: CollectorKind
    usage: UsageIndex
    usage_sources: tuple[str, ...]
    """The usage sources read, NAME@VERSION."""
    pricing: Pricing
    critical_selectors: tuple[str, ...] = ()
    top_k: int = 20
    incomplete: str | None = None
    """Why the usage cannot say that nothing reads a metric or label (None: it can)."""
    usage_warning: str | None = None
    """The usage is incomplete and that is accepted: every recommendation's evidence carries
    this warning (which queries failed to parse, and that it may break them)."""
    series_budget: int = DEFAULT_SERIES_BUDGET


@dataclass
class Outcome:
    recommendations: list[Recommendation]
    """Ranked by ``rank_key``."""
    refusals: list[Refusal]
    """Most series first."""
    notes: list[str]
    timings: list[Timing]


def recommend(
    inputs: Inputs,
    *,
    metrics: pd.DataFrame,
    labels: pd.DataFrame,
    total_series: int,
    series: SeriesSource,
    library: TemplateLibrary,
    now: datetime,
) -> Outcome:
    """Every recommendation for an inventory's ``metrics`` [metric, series] and ``labels``
    [metric, label, values] (``total_series``: every series matched, which the savings price),
    forecast over the series ``series`` gives, ranked by savings."""
    clock = _Clock()
    with clock("rules: candidates from the inventory and the usage"):
        found = plan(
            metrics,
            labels,
            inputs.usage,
            critical=inputs.critical_selectors,
            collector=inputs.collector,
            k=inputs.top_k,
            incomplete=inputs.incomplete,
        )
    counts = dict(zip(metrics["metric"], metrics["series"].astype(int), strict=True))
    admitted, refusals, notes = _within_budget(found.candidates, counts, inputs.series_budget)
    refusals = [*found.refusals, *refusals]
    needed = sorted({metric for candidate in admitted for metric in candidate.reads})
    with clock(f"series: the {sum(counts[m] for m in needed):,} series of {len(needed)} metrics"):
        frame = normalize_inventory(series.series(needed)) if needed else None
    with clock(f"forecast: {len(admitted)} candidates through the simulator"):
        forecaster = _Forecaster(inputs, frame, library, total_series, now)
        made = [forecaster.run(candidate) for candidate in admitted]
    # the single drops that survived, in one step (their series are fetched already)
    combined = unread_metrics_candidate(
        [m for m in made if isinstance(m, Recommendation)], inputs.usage, inputs.critical_selectors
    )
    if combined is not None:
        with clock(f"forecast: the {len(combined.metrics)} unread metrics together"):
            made.append(forecaster.run(combined))
    recommendations = [m for m in made if isinstance(m, Recommendation)]
    refusals += [m for m in made if isinstance(m, Refusal)]
    recommendations.sort(key=rank_key)
    refusals.sort(key=lambda r: (-r.series, r.kind.value, r.metrics, r.labels))
    return Outcome(recommendations, refusals, notes, clock.timings)


def rank_key(recommendation: Recommendation) -> tuple[float, int, str]:
    """Most savings first (unknown savings last), then most series removed, then by id."""
    saved = recommendation.savings.monthly
    return (
        -saved if saved is not None else math.inf,
        recommendation.series_change,
        recommendation.id,
    )


class _Clock:
    def __init__(self) -> None:
        self.timings: list[Timing] = []

    def __call__(self, purpose: str) -> _Timed:
        return _Timed(self, purpose)


class _Timed:
    def __init__(self, clock: _Clock, purpose: str) -> None:
        self.clock, self.purpose = clock, purpose

    def __enter__(self) -> None:
        self.began = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        took = round(time.perf_counter() - self.began, 4)
        self.clock.timings.append(Timing(purpose=self.purpose, seconds=took))


def _within_budget(
    candidates: list[Candidate], counts: dict[str, int], budget: int
) -> tuple[list[Candidate], list[Refusal], list[str]]:
    """The candidates whose series fit the budget, biggest first (series fetched once for all
    that read them); the others refused, saying so."""
    chosen: set[str] = set()
    admitted, refused = [], []
    order = sorted(candidates, key=lambda c: (-sum(counts[m] for m in c.reads), c.title))
    for candidate in order:
        more = sum(counts[m] for m in set(candidate.reads) - chosen)
        if sum(counts[m] for m in chosen) + more <= budget:
            admitted.append(candidate)
            chosen |= set(candidate.reads)
            continue
        refused.append(
            Refusal(
                kind=candidate.kind,
                metrics=list(candidate.metrics),
                labels=list(candidate.labels),
                series=sum(counts[m] for m in candidate.metrics),
                reason=f"{candidate.title}: not forecast: its {more:,} series would pass the "
                f"{budget:,} series one request fetches; narrow the selector",
                usage=candidate.usage,
            )
        )
    notes = []
    if refused:
        notes.append(
            f"{len(refused)} candidates were not forecast: the series they read would pass "
            f"the budget of {budget:,} series a request fetches (narrow the selector)"
        )
    return admitted, refused, notes


@dataclass
class _Forecaster:
    inputs: Inputs
    frame: pd.DataFrame | None
    library: TemplateLibrary
    total_series: int
    now: datetime
    _rows: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frame is not None and len(self.frame):
            names = self.frame[NAME]
            groups = names.groupby(names, observed=True).indices
            self._rows = {str(name): np.asarray(rows) for name, rows in groups.items()}

    def run(self, candidate: Candidate) -> Recommendation | Refusal:
        series = self._series(candidate.reads)
        template = self.library.get(candidate.template)
        pipeline = template.render(candidate.variables)
        result = forecast(pipeline, series, normalized=True)
        before, after = result.input_series, result.output_series
        if refusal := self._refused(candidate, result, before, after):
            return refusal
        pricing = self.inputs.pricing
        return Recommendation(
            id=recommendation_id(
                candidate.kind,
                self.inputs.collector,
                template.name,
                template.version,
                candidate.variables,
            ),
            kind=candidate.kind,
            title=candidate.title,
            metrics=list(candidate.metrics),
            labels=list(candidate.labels),
            collector=self.inputs.collector,
            pipeline=ProposedPipeline(
                template=template.name,
                template_version=template.version,
                variables=candidate.variables,
            ),
            series_before=before,
            series_after=after,
            series_change=after - before,
            change_percent=round((after - before) / before * 100, 2),
            samples_per_second_before=before / pricing.scrape_interval_seconds,
            samples_per_second_after=after / pricing.scrape_interval_seconds,
            per_metric=_per_metric(series, result),
            waterfall=[
                StepChange(
                    step=e.index, kind=e.kind, series_in=e.series_in, series_out=e.series_out
                )
                for e in result.effects
            ],
            savings=self._savings(before - after),
            usage=candidate.usage.model_copy(update={"warning": self.inputs.usage_warning})
            if self.inputs.usage_warning
            else candidate.usage,
            usage_sources=list(self.inputs.usage_sources),
            critical_selectors=list(self.inputs.critical_selectors),
            protects=_protections(series, candidate),
            targets=_targets(series),
            selector=self.inputs.selector,
            start=self.inputs.start,
            end=self.inputs.end,
            computed_at=self.now,
        )

    def _series(self, metrics: Sequence[str]) -> pd.DataFrame:
        assert self.frame is not None
        parts = [self._rows[m] for m in metrics if m in self._rows]
        if not parts:
            return self.frame.iloc[0:0]
        return self.frame.iloc[np.sort(np.concatenate(parts))]

    def _refused(
        self, candidate: Candidate, result: Forecast, before: int, after: int
    ) -> Refusal | None:
        reason = ""
        collector = self.inputs.collector
        if candidate.kind is Kind.DROP_LABELS:
            step = next(e for e in result.effects if e.kind == "drop_labels")
            merged = step.series_in - step.series_out
            support = SUPPORT[collector]["drop_labels"]
            if merged and support.keeps_series:
                reason = (
                    f"{candidate.title}: {step.series_in:,} series become {step.series_out:,} "
                    f"(series that differ only in them would be summed), and {collector.value} "
                    f"cannot do that: {support.keeps_series}"
                )
            elif not merged:
                reason = (
                    f"{candidate.title}: saves no series: no two of its {before:,} series "
                    "coincide once they are removed (the other labels tell them apart)"
                )
        if not reason and after >= before:
            why = "every series of it is kept"
            if result.protected and candidate.kind is not Kind.TOP_K:
                why = f"the critical selectors protect all {result.protected:,} of its series"
            elif candidate.kind is Kind.TOP_K:
                why = "the top-k and the protected values keep every series"
            reason = f"{candidate.title}: removes no series: {why}"
        if not reason:
            return None
        return Refusal(
            kind=candidate.kind,
            metrics=list(candidate.metrics),
            labels=list(candidate.labels),
            series=before,
            reason=reason,
            usage=candidate.usage,
        )

    def _savings(self, removed: int) -> Savings:
        pricing, book = self.inputs.pricing, self.inputs.pricing.book
        total = self.total_series
        before, after = pricing.cost(total), pricing.cost(total - removed)
        saved = before - after
        return Savings(
            price_book=book.name,
            vendor=book.vendor,
            meter=book.meter.value,
            currency=book.currency,
            fleet_hosts=pricing.fleet_hosts,
            scrape_interval_seconds=pricing.scrape_interval_seconds,
            total_series_before=total,
            total_series_after=total - removed,
            monthly_before=_number(before),
            monthly_after=_number(after),
            monthly=_number(saved),
            yearly=_number(saved * 12),
            percent=_number(saved / before * 100) if before > 0 else None,
        )


def _per_metric(series: pd.DataFrame, result: Forecast) -> list[MetricChange]:
    """Series per metric before and after, most before first (on the categories' codes: the
    simulator's ``per_metric`` compares names as text, slow over a million series)."""
    before = series[NAME].value_counts(sort=False)
    after = result.series[NAME].astype(series[NAME].dtype).value_counts(sort=False)
    table = pd.DataFrame({"before": before, "after": after.reindex(before.index, fill_value=0)})
    table = table[table["before"] > 0].rename_axis("metric").reset_index()
    table["metric"] = table["metric"].astype(str)
    table = table.sort_values(["before", "metric"], ascending=[False, True])
    return [
        MetricChange(metric=metric, series_before=int(b), series_after=int(a))
        for metric, b, a in zip(table["metric"], table["before"], table["after"], strict=True)
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _protections(series: pd.DataFrame, candidate: Candidate) -> list[Protection]:
    """The protect step's selectors that match some of ``series``, with how many."""
    selectors = candidate.variables.get("critical", [])
    found = []
    for text in selectors:
        matched = _matching(series, text)
        if matched:
            found.append(Protection(selector=text, series=matched))
    return found


def _matching(series: pd.DataFrame, text: str) -> int:
    hit = np.ones(len(series), dtype=bool)
    for matcher in parse_selector(text).matchers:
        column = series[matcher.label] if matcher.label in series.columns else None
        if column is None:
            if not matcher.matches(""):
                return 0
            continue
        categories = column.cat.categories
        answers = np.fromiter((matcher.matches(str(c)) for c in categories), bool, len(categories))
        hit &= answers[column.cat.codes.to_numpy()]
    return int(hit.sum())


def _targets(series: pd.DataFrame) -> list[Target]:
    """The (job, instance) pairs the series carry, most series first."""
    if "job" not in series.columns or "instance" not in series.columns or not len(series):
        return []
    counted = series.groupby(["job", "instance"], observed=True).size().reset_index(name="n")
    counted = counted[(counted["job"] != "") & (counted["instance"] != "")]
    counted = counted.sort_values(["n", "job", "instance"], ascending=[False, True, True])
    return [
        Target(job=str(row["job"]), instance=str(row["instance"]), series=int(row["n"]))
        for row in counted.to_dict("records")
    ]
