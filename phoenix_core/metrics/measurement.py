"""Measuring an experiment's KPIs over a window, per variant and host (issue 20).

``measure`` runs every ``receiver`` and ``collector_self`` query of the catalog for the
experiment's collector kind as one range query over the window, grouped by variant and host,
and derives critical-series coverage and host balance (``phoenix_core.metrics.derived``). The
``metrics_cache`` KPIs (collector CPU and RSS) come from the agents' metrics cache
(``derived.cache_samples``); with ``collector_process=True`` they are read at the receiver
instead, from the collector's own process metrics.

Each point of a range query looks back ``lookback`` seconds (rates, counts), so the first point
is at ``window_start + lookback``: no sample from before the window (the warm-up, an earlier
config) reaches any value.

The result is one long frame of samples, ``kpi, variant, host, timestamp, value`` (the verdict
reads it), the query text of each KPI (stored with its results), and what has no data:
``missing`` names each KPI, variant and host without a value and why. No data is never 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.metrics import derived
from phoenix_core.metrics.catalog import Catalog, Derived, Kpi, QueryScope, Source, render
from phoenix_core.metrics.derived import ALL_HOSTS, KPI_COLUMNS
from phoenix_core.metrics.reader import MetricsReader
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.wire.labels import HOST, VARIANT, promql_string
from phoenix_core.wire.tasks import CollectorKind

__all__ = ["MISSING_COLUMNS", "Measurement", "critical_query", "measure"]

MISSING_COLUMNS = ("kpi", "variant", "host", "reason")


@dataclass(frozen=True)
class Measurement:
    """The KPIs of one experiment over one window."""

    samples: pd.DataFrame
    """``KPI_COLUMNS``: one row per sample, values never NaN."""
    missing: pd.DataFrame
    """``MISSING_COLUMNS``: each KPI, variant and host with no value, and why."""
    queries: dict[str, str] = field(default_factory=dict)
    """The query each KPI ran (rendered), or how it was derived."""
    window_start: datetime | None = None
    window_end: datetime | None = None
    lookback_seconds: float | None = None
    findings: dict[str, list[str]] = field(default_factory=dict)
    """Per candidate, what would lose data on it, in words (the query guardrail's findings)."""
    guardrail_queries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per candidate, every usage query's comparison (``GuardrailResult.rows``)."""

    def missing_required(self, catalog: Catalog) -> pd.DataFrame:
        """The missing values of the KPIs that must have data (the verdict cannot pass)."""
        required = {kpi.name for kpi in catalog.kpis if kpi.must_have_data}
        return self.missing[self.missing["kpi"].isin(required)].reset_index(drop=True)


def measure(
    reader: MetricsReader,
    catalog: Catalog,
    *,
    experiment_id: str | uuid.UUID,
    collector_kind: CollectorKind | str,
    jobs: Sequence[str],
    window_start: datetime,
    window_end: datetime,
    step: float,
    variants: Sequence[str] = (),
    hosts: Sequence[str] = (),
    baseline: str | None = None,
    critical_selectors: Sequence[str] = (),
    lookback: float | None = None,
    collector_process: bool = False,
) -> Measurement:
    """Every KPI of ``catalog`` the receiver answers, per variant and host, over the window.

    ``jobs``: the experiment's sources (one job each). ``step``: seconds between points (at
    least the scrape interval). ``lookback``: each point's look back (default 4 steps).
    ``variants`` and ``hosts``: what should have data (``missing`` lists what has none;
    without them, the pairs seen in any KPI); ``hosts`` are also host balance's assigned hosts.
    ``baseline`` and ``critical_selectors``: for critical-series coverage (none without them).
    """
    kind = CollectorKind(collector_kind)
    lookback = 4 * step if lookback is None else lookback
    first = window_start + timedelta(seconds=lookback)
    if first > window_end:
        seconds = (window_end - window_start).total_seconds()
        reason = f"the window ({seconds:g} s) is shorter than its points' lookback ({lookback:g} s)"
        raise ValidationFailed([FieldError(("window_end",), reason)])
    if critical_selectors and baseline is None:
        reason = "critical coverage compares each variant with the baseline: name it"
        raise ValidationFailed([FieldError(("baseline",), reason)])
    scope = QueryScope(experiment_id, list(jobs), lookback)
    queries: dict[str, str] = {}
    ran: list[tuple[Kpi, pd.DataFrame]] = []
    unsupported: list[tuple[Kpi, str]] = []
    for kpi in catalog.kpis:
        if not (kpi.source in _QUERIED or (kpi.source in _CACHED and collector_process)):
            continue
        template = kpi.query_for(kind)
        if template is None:
            reason = kpi.unsupported.get(kind, "the catalog has no query for it")
            queries[kpi.name] = f"not measured on {kind.value}: {reason}"
            unsupported.append((kpi, queries[kpi.name]))
            continue
        queries[kpi.name] = render(template, scope)
        ran.append((kpi, reader.range(queries[kpi.name], first, window_end, step)))

    found = [derived.samples_of(kpi.name, frame) for kpi, frame in ran]
    measured = pd.concat([derived.empty_samples(), *found], ignore_index=True)
    pairs = _expected(measured, variants, hosts)
    gaps = [(kpi.name, v, h, reason) for kpi, reason in unsupported for v, h in pairs]
    for kpi, frame in ran:
        gaps += _gaps(kpi.name, frame, measured, pairs)
    for kpi in catalog.kpis:
        if kpi.derived is Derived.HOST_BALANCE:
            queries[kpi.name] = f"derived: active_series > 0 on the {len(hosts)} assigned hosts"
            balance = derived.host_balance(
                measured[measured["kpi"] == "active_series"],
                variants_of(pairs),
                hosts,
                at=window_end,
                kpi=kpi.name,
            )
            found.append(balance)
            why = "no assigned hosts given" if not hosts else "no variant delivered on any host"
            gaps += [(kpi.name, v, ALL_HOSTS, why) for v in variants_of(pairs) if balance.empty]
        elif kpi.derived is Derived.CRITICAL_COVERAGE and critical_selectors:
            assert baseline is not None
            whole = (window_end - window_start).total_seconds()
            query = critical_query(critical_selectors, QueryScope(experiment_id, list(jobs), whole))
            queries[kpi.name] = f"derived from the series at the window's end: {query}"
            coverage = derived.critical_coverage(
                reader.instant(query, at=window_end), baseline, pairs, at=window_end, kpi=kpi.name
            )
            found.append(coverage)
            covered = set(zip(coverage["variant"], coverage["host"], strict=True))
            gaps += [
                (kpi.name, v, h, f"the baseline delivered no critical series on host {h}")
                for v, h in pairs
                if (v, h) not in covered
            ]
    samples = pd.concat([derived.empty_samples(), *found], ignore_index=True)
    samples = samples.sort_values(["kpi", "variant", "host", "timestamp"], kind="stable")
    missing = pd.DataFrame(gaps, columns=list(MISSING_COLUMNS)).drop_duplicates()
    return Measurement(
        samples=samples.reset_index(drop=True)[list(KPI_COLUMNS)],
        missing=missing.reset_index(drop=True),
        queries=queries,
        window_start=window_start,
        window_end=window_end,
        lookback_seconds=lookback,
    )


_QUERIED = (Source.RECEIVER, Source.COLLECTOR_SELF)
_CACHED = (Source.METRICS_CACHE,)


def _expected(
    measured: pd.DataFrame, variants: Sequence[str], hosts: Sequence[str]
) -> list[tuple[str, str]]:
    """The (variant, host) pairs that should have data: the given ones, completed from what
    was measured where either is not given."""
    seen = set(zip(measured["variant"], measured["host"], strict=True))
    every_variant = list(variants) or sorted({v for v, _ in seen})
    every_host = list(hosts) or sorted({h for _, h in seen})
    return [(v, h) for v in every_variant for h in every_host]


def _gaps(
    name: str, frame: pd.DataFrame, measured: pd.DataFrame, pairs: list[tuple[str, str]]
) -> list[tuple[str, str, str, str]]:
    have = measured[measured["kpi"] == name]
    present = set(zip(have["variant"], have["host"], strict=True))
    answered: set[tuple[str, str]] = set()
    if {VARIANT, HOST} <= set(frame.columns):
        answered = set(zip(frame[VARIANT], frame[HOST], strict=True))
    return [
        (name, v, h, "only NaN values (0/0)" if (v, h) in answered else "no series matched")
        for v, h in pairs
        if (v, h) not in present
    ]


def variants_of(pairs: list[tuple[str, str]]) -> list[str]:
    return sorted({v for v, _ in pairs})


def critical_query(selectors: Sequence[str], scope: QueryScope) -> str:
    """One instant query for every series of the experiment's sources that a critical selector
    matches and that had a sample within the scope's window (``last_over_time`` keeps the
    metric name; ``or`` joins the selectors)."""
    written, window = render("$written", scope), render("$window", scope)
    parts = []
    for text in selectors:
        own = [f'{m.label}{m.op}"{promql_string(m.value)}"' for m in parse_selector(text).matchers]
        parts.append(f"last_over_time({{{','.join([*own, written])}}}[{window}])")
    return " or ".join(parts)
