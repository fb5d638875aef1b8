"""The inventory of a store's series for a selector over a window, and how its tables are
shaped from what Prometheus answers (pure: frames in, frames out; the queries are in
``inventory_queries``, asked by ``cardinality``; docs/cardinality.md).

Every number counts series (unit: series) over the window ``[start, end]``:

- a series is *in the window* when it has a sample with a timestamp in ``[start, end]``;
- it is *present* at an instant when an instant query then returns it: its latest sample is
  within the store's lookback (5 minutes by default) and is not a staleness marker (written
  when a scrape no longer exposes the series or its target goes away);
- *created*: in the window and not present at ``start``; *ended*: in the window and not
  present at ``end``. A series that came and went inside the window is both.

Tables, biggest first, each cut to ``limit`` rows (ties broken by name):

- ``metrics`` [metric, series, created, ended]: per metric name;
- ``labels`` [metric, label, values]: the distinct non-empty values a label takes among a
  metric's series in the window (the factor it multiplies the metric's series by, at most);
- ``pairs`` [label, value, series]: the series in the window, over every metric, carrying
  ``label="value"`` (the metric name is not a label here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = [
    "LABEL_COLUMNS",
    "METRIC_COLUMNS",
    "PAIR_COLUMNS",
    "Inventory",
    "InventoryQuery",
    "assemble",
    "group_tables",
    "histogram_values",
    "pair_threshold",
    "pairs_from_top",
    "series_per_metric",
    "top_pairs",
]

METRIC_COLUMNS = ("metric", "series", "created", "ended")
LABEL_COLUMNS = ("metric", "label", "values")
PAIR_COLUMNS = ("label", "value", "series")
NAME = "__name__"


@dataclass(frozen=True)
class InventoryQuery:
    """One question the inventory asked the store: what for, its text (PromQL, or the HTTP
    API call), how many calls it stands for, their wall time (s) and the rows answered."""

    purpose: str
    query: str
    seconds: float
    rows: int
    calls: int = 1


@dataclass(frozen=True)
class Inventory:
    """The series a selector matches in ``[start, end]``: totals, three tables (see the
    module's docstring for what each number means) and every query asked."""

    selector: str
    start: datetime
    end: datetime
    limit: int
    total_series: int
    """Series in the window."""
    created: int
    """Series in the window that were not present at ``start``."""
    ended: int
    """Series in the window that were no longer present at ``end``."""
    metric_count: int
    """Metric names with a series in the window (rows of ``metrics`` before the limit)."""
    label_count: int
    """(metric, label) pairs with a value in the window (rows of ``labels`` before the limit)."""
    metrics: pd.DataFrame
    labels: pd.DataFrame
    pairs: pd.DataFrame
    queries: tuple[InventoryQuery, ...]

    @property
    def window_seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> Inventory:
        """The inventory from ``GET /api/v1/cardinality``'s JSON (``PhoenixClient.cardinality``)."""
        return cls(
            selector=str(answer["selector"]),
            start=pd.Timestamp(answer["start"]).to_pydatetime(),
            end=pd.Timestamp(answer["end"]).to_pydatetime(),
            limit=int(answer["limit"]),
            total_series=int(answer["total_series"]),
            created=int(answer["created"]),
            ended=int(answer["ended"]),
            metric_count=int(answer["metric_count"]),
            label_count=int(answer["label_count"]),
            metrics=_table(answer["metrics"], METRIC_COLUMNS),
            labels=_table(answer["labels"], LABEL_COLUMNS),
            pairs=_table(answer["pairs"], PAIR_COLUMNS),
            queries=tuple(InventoryQuery(**query) for query in answer["queries"]),
        )


def _table(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    for column in columns:
        if column in ("series", "created", "ended", "values"):
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype(str)
    return frame


def series_per_metric(frame: pd.DataFrame) -> pd.Series:
    """Series per metric name from a ``count by (__name__, …)`` answer (int, by metric)."""
    if frame.empty:
        return pd.Series(dtype="int64", name="series")
    return frame.groupby(NAME)["value"].sum().astype("int64").rename("series")


def group_tables(frame: pd.DataFrame, labels: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From ``count by (__name__, L1, …, Lk)`` (one row per combination, its series in
    ``value``): each label's distinct values per metric, and every pair's series."""
    values, pairs = [], []
    for label in labels:
        if frame.empty or label not in frame.columns:
            continue
        carried = frame[frame[label] != ""]
        if carried.empty:
            continue
        counted = carried.groupby(NAME)[label].nunique().rename("values").reset_index()
        values.append(counted.rename(columns={NAME: "metric"}).assign(label=label))
        summed = carried.groupby(label)["value"].sum().rename("series").reset_index()
        pairs.append(summed.rename(columns={label: "value"}).assign(label=label))
    return _concat(values, LABEL_COLUMNS), _concat(pairs, PAIR_COLUMNS)


def histogram_values(frame: pd.DataFrame, label: str, column: str) -> tuple[pd.DataFrame, int]:
    """From ``count_values by (__name__) (column, count by (__name__, L) (…))`` (per metric,
    how many values of ``label`` have exactly ``column`` series): the label's distinct values
    per metric, and the most series any one value can have over all metrics (the sum of each
    metric's largest), which bounds its pairs."""
    if frame.empty:
        return _concat([], LABEL_COLUMNS), 0
    per_value = frame[column].astype("int64")
    counted = frame.groupby(NAME)["value"].sum().astype("int64").rename("values").reset_index()
    values = counted.rename(columns={NAME: "metric"}).assign(label=label)
    bound = int(per_value.groupby(frame[NAME]).max().sum())
    return values[list(LABEL_COLUMNS)], bound


def pairs_from_top(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """From ``topk(k, count by (L) (…))``: the pairs it names, with their series."""
    if frame.empty:
        return _concat([], PAIR_COLUMNS)
    pairs = pd.DataFrame(
        {"label": label, "value": frame[label], "series": frame["value"].astype("int64")}
    )
    return pairs[list(PAIR_COLUMNS)]


def pair_threshold(pairs: pd.DataFrame, limit: int) -> int | None:
    """The series of the ``limit``-th biggest pair, or None when there are fewer pairs: a
    label whose pairs all have fewer series cannot place one in the top ``limit``."""
    if len(pairs) < limit:
        return None
    return int(pairs["series"].nlargest(limit).iloc[-1])


def top_pairs(pairs: Iterable[pd.DataFrame], limit: int) -> pd.DataFrame:
    """The ``limit`` pairs with the most series (then by label and value)."""
    every = _concat(list(pairs), PAIR_COLUMNS)
    every = every.sort_values(["series", "label", "value"], ascending=[False, True, True])
    return every.head(limit).reset_index(drop=True)


def assemble(
    *,
    selector: str,
    start: datetime,
    end: datetime,
    limit: int,
    series: pd.Series,
    created: pd.Series,
    ended: pd.Series,
    values: Iterable[pd.DataFrame],
    pairs: Iterable[pd.DataFrame],
    queries: Iterable[InventoryQuery],
) -> Inventory:
    """The inventory from per-metric counts (``series``, ``created``, ``ended``: int Series
    by metric name) and the label tables' pieces."""
    metrics = pd.DataFrame({"series": series.astype("int64")})
    for name, counts in (("created", created), ("ended", ended)):
        metrics[name] = counts.reindex(metrics.index).fillna(0).astype("int64")
    metrics = metrics.rename_axis("metric").reset_index()
    metrics = metrics.sort_values(["series", "metric"], ascending=[False, True])
    labels = _concat(list(values), LABEL_COLUMNS)
    labels = labels[labels["values"] > 0]
    labels = labels.sort_values(["values", "metric", "label"], ascending=[False, True, True])
    return Inventory(
        selector=selector,
        start=start,
        end=end,
        limit=limit,
        total_series=int(metrics["series"].sum()),
        created=int(metrics["created"].sum()),
        ended=int(metrics["ended"].sum()),
        metric_count=len(metrics),
        label_count=len(labels),
        metrics=metrics.head(limit).reset_index(drop=True)[list(METRIC_COLUMNS)],
        labels=labels.head(limit).reset_index(drop=True)[list(LABEL_COLUMNS)],
        pairs=top_pairs(pairs, limit),
        queries=tuple(queries),
    )


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    present = [frame[list(columns)] for frame in frames if not frame.empty]
    if not present:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c in ("series", "values") else str) for c in columns}
        )
    frame = pd.concat(present, ignore_index=True)
    for column in columns:
        frame[column] = frame[column].astype("int64" if column in ("series", "values") else str)
    return frame
