"""Taking an inventory from Prometheus: which questions to ask, and asking them concurrently
(``take_inventory``; the PromQL is in ``inventory_queries``, what each number means in
``inventory``).

Every count is a PromQL aggregation Prometheus evaluates at the window's end: counts cross
the wire, never the series. The index (label names and values, no samples read) only plans
which labels share a ``count by``: each label's values over the whole store (an upper bound
for the selector's) and the metrics of the selector that carry it. The TSDB status endpoint
is not used: it covers the head block only, ignores the selector and names the top 10 of
each table (Prometheus 2.42), so it answers none of these questions exactly.

Cost: every PromQL query reads each series it selects (about 5 µs a series on the project's
2-core machine, whatever the aggregation), so the queries are few and large; see
``bench/README.md``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, TypeVar

import pandas as pd

from phoenix_core.metrics.inventory import (
    NAME,
    Inventory,
    InventoryQuery,
    assemble,
    group_tables,
    histogram_values,
    pair_threshold,
    pairs_from_top,
    series_per_metric,
)
from phoenix_core.metrics.inventory_queries import SERIES_PER_VALUE, Window, carried
from phoenix_core.pipelines.selectors import Selector

__all__ = [
    "GROUP_ROWS",
    "INDEX_WORKERS",
    "QUERY_WORKERS",
    "InventoryReader",
    "LabelIndex",
    "Plan",
    "duration_seconds",
    "plan_groups",
    "take_inventory",
]

GROUP_ROWS = 20_000
"""The most rows one ``count by`` of several labels may answer, by the index's estimate:
about half a second of Prometheus and pandas time, whatever the selector (each more group
costs a pass over the selector's series instead: ~5 s for 1,000,000; ``bench/README.md``)."""
QUERY_WORKERS = 2
"""PromQL queries at once: each keeps one of Prometheus' cores busy; more only contend."""
INDEX_WORKERS = 8
"""Index calls at once (light: two per label name)."""

Answer = TypeVar("Answer", bound=Sized)


class InventoryReader(Protocol):
    """What an inventory needs of a store: instant queries, its index and its lookback
    (``phoenix_core.metrics.reader.PrometheusReader``)."""

    def instant(self, query: str, at: datetime | None = None) -> pd.DataFrame: ...

    def label_names(
        self, start: datetime, end: datetime, match: str | None = None
    ) -> list[str]: ...

    def label_values(
        self, label: str, start: datetime, end: datetime, match: str | None = None
    ) -> list[str]: ...

    def flags(self) -> dict[str, str] | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LabelIndex:
    """What the index says of one label: its distinct values in the whole store over the
    window (an upper bound for the selector's), and the selector's metrics that carry it."""

    values: int
    metrics: frozenset[str]


@dataclass(frozen=True)
class Plan:
    """Labels counted together (one ``count by`` per group), and labels counted alone."""

    groups: tuple[tuple[str, ...], ...]
    wide: tuple[str, ...]


def plan_groups(metrics: Iterable[str], index: Mapping[str, LabelIndex], rows: int) -> Plan:
    """Labels, fewest values first, each into the first group whose answer stays within
    ``rows`` (estimated: over the metrics, the product of the values of the group's labels
    each carries); a label over ``rows`` alone is wide. Labels no metric carries are left out."""
    every = frozenset(metrics).union(*(entry.metrics for entry in index.values()))

    def estimate(group: tuple[str, ...]) -> int:
        return sum(
            math.prod(index[label].values for label in group if metric in index[label].metrics)
            for metric in every
        )

    groups: list[tuple[str, ...]] = []
    wide: list[str] = []
    for label in sorted(index, key=lambda name: (index[name].values, name)):
        if not index[label].metrics:
            continue
        if estimate((label,)) > rows:
            wide.append(label)
            continue
        for position, group in enumerate(groups):
            if estimate((*group, label)) <= rows:
                groups[position] = (*group, label)
                break
        else:
            groups.append((label,))
    return Plan(tuple(groups), tuple(wide))


@dataclass
class _Log:
    """The questions asked, in the order they were put, each timed where it ran."""

    records: dict[int, InventoryQuery] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    order: int = 0

    def track(self, purpose: str, text: str, call: Callable[[], Answer]) -> Callable[[], Answer]:
        position = self.order
        self.order += 1

        def timed() -> Answer:
            began = time.perf_counter()
            answer = call()
            took = time.perf_counter() - began
            with self.lock:
                self.records[position] = InventoryQuery(purpose, text, took, len(answer))
            return answer

        return timed

    def queries(self) -> list[InventoryQuery]:
        """Every record, the index calls of one purpose folded into one (``calls``)."""
        folded: dict[str, InventoryQuery] = {}
        for _, record in sorted(self.records.items()):
            seen = folded.get(record.purpose)
            folded[record.purpose] = (
                record
                if seen is None
                else InventoryQuery(
                    seen.purpose,
                    seen.query,
                    seen.seconds + record.seconds,
                    seen.rows + record.rows,
                    seen.calls + record.calls,
                )
            )
        return list(folded.values())


@dataclass
class _Questions:
    """Puts the inventory's questions to the store, PromQL and index calls on pools of their
    own, and logs each."""

    reader: InventoryReader
    window: Window
    queries: ThreadPoolExecutor
    index: ThreadPoolExecutor
    log: _Log = field(default_factory=_Log)

    def query(self, purpose: str, query: str) -> Future[pd.DataFrame]:
        """An instant PromQL query at the window's end."""
        call = partial(self.reader.instant, query, self.window.end)
        return self.queries.submit(self.log.track(purpose, query, call))

    def values(self, purpose: str, label: str, match: str | None = None) -> Future[list[str]]:
        """A label's values in the index over the window (of the series matching ``match``)."""
        window = self.window
        where = f"match[]={match}&" if match else ""
        text = f"GET /api/v1/label/{label}/values?{where}{_span(window.start, window.end)}"
        call = partial(self.reader.label_values, label, window.start, window.end, match)
        return self.index.submit(self.log.track(purpose, text, call))

    def label_names(self, since: datetime) -> list[str]:
        """The label names of the selector's series from ``since`` to the window's end."""
        window = self.window
        text = f"GET /api/v1/labels?match[]={window.match()}&{_span(since, window.end)}"
        call = partial(self.reader.label_names, since, window.end, window.match())
        return self.log.track("index: label names of the selector's series", text, call)()

    def lookback(self) -> float | None:
        """The store's lookback in seconds (``query.lookback-delta``); None if it does not say."""
        flags = self.log.track("the store's lookback", "GET /api/v1/status/flags", self._flags)()
        text = flags.get("query.lookback-delta")
        return None if text is None else duration_seconds(text)

    def _flags(self) -> dict[str, str]:
        return self.reader.flags() or {}

    def plan(self, labels: list[str], group_rows: int) -> Plan:
        """Which labels share a ``count by``, from the index."""
        match = self.window.match
        metrics = self.values("index: metric names of the selector's series", NAME, match())
        values = {
            label: self.values("index: each label's values in the whole store", label)
            for label in labels
        }
        carriers = {
            label: self.values(
                "index: the metrics carrying each label", NAME, match(carried(label))
            )
            for label in labels
        }
        index = {
            label: LabelIndex(len(values[label].result()), frozenset(carriers[label].result()))
            for label in labels
        }
        return plan_groups(metrics.result(), index, group_rows)


def _span(start: datetime, end: datetime) -> str:
    return f"start={start.timestamp():.3f}&end={end.timestamp():.3f}"


def take_inventory(
    reader: InventoryReader,
    selector: Selector,
    start: datetime,
    end: datetime,
    limit: int,
    *,
    group_rows: int = GROUP_ROWS,
    query_workers: int = QUERY_WORKERS,
) -> Inventory:
    """The inventory of the series ``selector`` matches over ``[start, end]`` (cut to whole
    milliseconds), each table cut to ``limit`` rows; ``MetricsUnavailable`` when the store
    cannot answer."""
    window = Window(selector, _millis(start), _millis(end))
    queries = ThreadPoolExecutor(query_workers, thread_name_prefix="inventory-query")
    index = ThreadPoolExecutor(INDEX_WORKERS, thread_name_prefix="inventory-index")
    try:
        return _take(_Questions(reader, window, queries, index), limit, group_rows)
    finally:  # on an error, what is still queued is not asked
        for pool in (queries, index):
            pool.shutdown(wait=True, cancel_futures=True)


def _take(ask: _Questions, limit: int, group_rows: int) -> Inventory:
    window = ask.window
    lookback = ask.lookback()
    # A series present at start has a sample in the lookback before it: with the label names
    # since then, `unless on(…)` can match every label (else the queries copy the name).
    since = window.start - timedelta(seconds=lookback or 0)
    names = ask.label_names(since)
    every_label = None if lookback is None else names
    created = ask.query(
        "created: in the window, not present at start",
        window.absent_at(window.start, every_label),
    )
    # A window at least the lookback long holds a sample of every series present at its end.
    by_count = lookback is not None and window.seconds >= lookback
    if by_count:
        ending = ask.query("present at end (ended: the others)", window.present_at(window.end))
    else:
        ending = ask.query(
            "ended: in the window, not present at end", window.absent_at(window.end, every_label)
        )
    plan = ask.plan([name for name in names if name != NAME], group_rows)
    groups = {
        group: ask.query(
            f"series per metric; values and pairs of {', '.join(group) or 'no label'}",
            window.group(group),
        )
        for group in plan.groups or ((),)
    }
    histograms = {
        label: ask.query(f"values of {label} per metric, series per value", window.histogram(label))
        for label in plan.wide
    }
    values, pairs = [], []
    for group, answer in groups.items():
        group_values, group_pairs = group_tables(answer.result(), group)
        values.append(group_values)
        pairs.append(group_pairs)
    threshold = pair_threshold(pd.concat(pairs, ignore_index=True), limit)
    tops = {}
    for label, answer in histograms.items():
        label_values, most = histogram_values(answer.result(), label, SERIES_PER_VALUE)
        values.append(label_values)
        if threshold is None or most >= threshold:  # else none of its pairs can place
            tops[label] = ask.query(f"top pairs of {label}", window.top(label, limit))
    pairs += [pairs_from_top(answer.result(), label) for label, answer in tops.items()]
    series = series_per_metric(next(iter(groups.values())).result())
    ended = series_per_metric(ending.result())
    if by_count:
        ended = series - ended.reindex(series.index).fillna(0).astype("int64")
    return assemble(
        selector=window.selector.text,
        start=window.start,
        end=window.end,
        limit=limit,
        series=series,
        created=series_per_metric(created.result()),
        ended=ended,
        values=values,
        pairs=pairs,
        queries=ask.log.queries(),
    )


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """A Prometheus duration (``5m``, ``1h30m``, ``300ms``) in seconds; ``ValueError`` if
    ``text`` is not one."""
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(part.group() for part in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return float(sum(int(part.group(1)) * _UNIT_SECONDS[part.group(2)] for part in parts))


def _millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to whole milliseconds (what Prometheus resolves)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
