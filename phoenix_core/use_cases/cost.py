"""What each variant of an analysed experiment would cost a fleet under a price book.

Usage per host comes from the stored analysis (``phoenix_core.use_cases.analysis``): the
baseline's centre of active series, samples/s and bytes/s over the measurement window, and each
candidate's as the baseline's moved by the verdict's change and its confidence interval
(``Estimate.from_change``). ``phoenix_core.analysis.cost`` projects it onto the fleet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from phoenix_core.analysis.cost import Estimate, Fleet, Usage, VariantCost, variant_cost
from phoenix_core.analysis.price_books import PriceBook
from phoenix_core.store.analyses import KpiRow
from phoenix_core.store.session import Store
from phoenix_core.use_cases.analysis import Analyses
from phoenix_core.use_cases.price_books import price_book

__all__ = ["DEFAULT_PRICE_BOOK", "ExperimentCost", "VariantProjection", "experiment_cost"]

DEFAULT_PRICE_BOOK = "grafana-cloud-pro"
"""The price book reports use unless told another (the most common hosted Prometheus bill)."""
_USAGE = ("active_series", "samples_per_second", "bytes_per_second")


@dataclass(frozen=True)
class VariantProjection:
    variant: str
    role: str
    usage: Usage
    """Per host, as measured (series; samples/s; bytes/s), with the verdict's interval."""
    cost: VariantCost


@dataclass(frozen=True)
class ExperimentCost:
    experiment_id: uuid.UUID
    price_book: PriceBook
    fleet: Fleet
    window_start: datetime
    window_end: datetime
    variants: list[VariantProjection]


def experiment_cost(
    store: Store,
    analyses: Analyses,
    experiment_id: uuid.UUID,
    *,
    book_name: str = DEFAULT_PRICE_BOOK,
    fleet: Fleet,
) -> ExperimentCost:
    """Each variant's monthly and yearly cost on ``fleet`` and the candidates' savings."""
    with store.session() as session:
        book = price_book(session, book_name)
    analysis, rows = analyses.stored(experiment_id, per_host=False)
    baseline_name, baseline_rows = "", {}
    candidates: dict[str, dict[str, KpiRow]] = {}
    for row in rows:
        if row.kpi not in _USAGE:
            continue
        if row.details.get("role") == "baseline":
            baseline_name, baseline_rows[row.kpi] = row.variant, row
        else:
            candidates.setdefault(row.variant, {})[row.kpi] = row
    baseline = _usage(baseline_rows, None)
    projections = [
        VariantProjection(baseline_name, "baseline", baseline, variant_cost(book, baseline, fleet))
    ]
    for variant, kpis in candidates.items():
        usage = _usage(baseline_rows, kpis)
        cost = variant_cost(book, usage, fleet, baseline=baseline)
        projections.append(VariantProjection(variant, "candidate", usage, cost))
    return ExperimentCost(
        experiment_id, book, fleet, analysis.window_start, analysis.window_end, projections
    )


def _usage(baseline: dict[str, KpiRow], candidate: dict[str, KpiRow] | None) -> Usage:
    """The baseline's centres, or a candidate's from them and its change with the interval."""
    values: dict[str, Estimate | None] = {}
    for kpi in _USAGE:
        base = baseline.get(kpi)
        if base is None or base.value is None:
            values[kpi] = None
            continue
        if candidate is None:
            values[kpi] = Estimate(base.value)
            continue
        row = candidate.get(kpi)
        if row is None or row.change_percent is None:
            values[kpi] = None
            continue
        change = row.change_percent
        low = min(change, row.ci_low) if row.ci_low is not None else None  # a percentile
        high = max(change, row.ci_high) if row.ci_high is not None else None  # bootstrap may
        values[kpi] = Estimate.from_change(base.value, change, low, high)  # miss the estimate
    series = values["active_series"]
    return Usage(
        active_series=series if series is not None else Estimate(float("nan")),
        samples_per_second=values["samples_per_second"],
        bytes_per_second=values["bytes_per_second"],
    )
