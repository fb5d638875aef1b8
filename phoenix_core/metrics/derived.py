"""KPI values computed in pandas from other data, and the long shape every KPI sample takes.

Pure functions (DataFrames in, DataFrames out, no I/O):

- ``critical_coverage``: per variant and host, the share (in percent) of the baseline's
  critical series on that host the variant also delivered. Series are compared as label sets
  without Phoenix's identity labels (every other label, the name, ``job`` and ``instance``
  included, must be equal: the variants on a host scrape the same targets). A host where the
  baseline delivered no critical series has no value: there is nothing to cover, and 100 %
  would claim a check that did not happen.
- ``host_balance``: per variant, the share (in percent) of the assigned hosts where it
  delivered series (``active_series`` above 0 at some point of the window); host ``"*"``;
  no value where no variant delivered anywhere.
- ``cache_samples``: the agents' metrics-cache rows of the collectors (CPU seconds, RSS) as
  samples of the ``metrics_cache`` KPIs: a counter becomes its increase per second between
  consecutive rows (after a reset, the new value counts from 0, as PromQL's ``rate`` does), a
  gauge stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

import pandas as pd

from phoenix_core.metrics.catalog import CacheReduce, Catalog, Source
from phoenix_core.wire.labels import HOST, IDENTITY_LABELS, VARIANT

__all__ = [
    "ALL_HOSTS",
    "KPI_COLUMNS",
    "TIMESTAMP",
    "cache_samples",
    "critical_coverage",
    "empty_samples",
    "host_balance",
    "samples_of",
]

KPI_COLUMNS = ("kpi", "variant", "host", "timestamp", "value")
"""One row per sample: the KPI, the variant, the host, when (UTC) and the value (never NaN)."""
TIMESTAMP: Final = "datetime64[ns, UTC]"
"""The type of every ``timestamp`` column (the same under pandas 2 and 3)."""
ALL_HOSTS = "*"
"""The host of a KPI that has one value per variant across hosts (host balance)."""
CACHE_COLUMNS = ("metric_name", "variant", "host", "timestamp", "value")
"""The metrics-cache rows ``cache_samples`` reads (the ``metrics_cache`` table, host named)."""


def empty_samples() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kpi": pd.Series(dtype=object),
            "variant": pd.Series(dtype=object),
            "host": pd.Series(dtype=object),
            "timestamp": pd.Series(dtype=TIMESTAMP),
            "value": pd.Series(dtype=float),
        }
    )


def samples_of(kpi: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A reader's frame of a query grouped by variant and host as KPI samples (NaN dropped)."""
    if frame.empty or VARIANT not in frame.columns or HOST not in frame.columns:
        return empty_samples()
    out = frame.rename(columns={VARIANT: "variant", HOST: "host"})
    out = out[out["value"].notna()].assign(kpi=kpi)
    return _typed(out[list(KPI_COLUMNS)])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return empty_samples()
    frame = frame.reset_index(drop=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype(TIMESTAMP)
    frame["value"] = frame["value"].astype(float)
    return frame


def _series_keys(frame: pd.DataFrame) -> list[frozenset[tuple[str, str]]]:
    labels = [c for c in frame.columns if c not in (*IDENTITY_LABELS, "timestamp", "value")]
    return [
        frozenset((label, value) for label, value in zip(labels, row, strict=True) if value != "")
        for row in frame[labels].astype(str).itertuples(index=False, name=None)
    ]


def critical_coverage(
    series: pd.DataFrame,
    baseline: str,
    pairs: Sequence[tuple[str, str]],
    *,
    at: datetime,
    kpi: str = "critical_coverage",
) -> pd.DataFrame:
    """For each (variant, host) of ``pairs``, the share (%) of the baseline's critical series
    on that host the variant delivered.

    ``series``: one row per critical series delivered in the window, its labels as columns
    (identity labels included), as ``PrometheusReader.instant`` returns them.
    """
    if series.empty:
        return empty_samples()
    keyed = pd.DataFrame(
        {"variant": series[VARIANT], "host": series[HOST], "key": _series_keys(series)}
    )
    sets = keyed.groupby(["variant", "host"])["key"].agg(set).to_dict()
    rows = []
    for variant, host in pairs:
        wanted = sets.get((baseline, host), set())
        if wanted:
            delivered = sets.get((variant, host), set())
            rows.append((kpi, variant, host, at, 100 * len(wanted & delivered) / len(wanted)))
    return _typed(pd.DataFrame(rows, columns=list(KPI_COLUMNS)))


def host_balance(
    active: pd.DataFrame,
    variants: Sequence[str],
    hosts: Sequence[str],
    *,
    at: datetime,
    kpi: str = "host_balance",
) -> pd.DataFrame:
    """Per variant, the share (%) of ``hosts`` where it delivered series (``active``: the
    ``active_series`` samples). No value at all where no variant delivered on any host: that
    is an experiment that measured nothing, not a candidate that lost its hosts."""
    if not hosts:
        return empty_samples()
    delivering = active[active["value"] > 0].groupby("variant")["host"].agg(set).to_dict()
    if not delivering:
        return empty_samples()
    assigned = set(hosts)
    rows = [
        (kpi, v, ALL_HOSTS, at, 100 * len(assigned & delivering.get(v, set())) / len(assigned))
        for v in variants
    ]
    return _typed(pd.DataFrame(rows, columns=list(KPI_COLUMNS)))


def cache_samples(
    catalog: Catalog, rows: pd.DataFrame, window_start: datetime, window_end: datetime
) -> pd.DataFrame:
    """The ``metrics_cache`` KPIs' samples from the cache's rows (``CACHE_COLUMNS``) within
    the window."""
    if rows.empty:
        return empty_samples()
    rows = rows.assign(timestamp=pd.to_datetime(rows["timestamp"], utc=True))
    start, end = pd.Timestamp(window_start), pd.Timestamp(window_end)
    rows = rows[(rows["timestamp"] >= start) & (rows["timestamp"] <= end)]
    found = []
    for kpi in catalog.kpis:
        if kpi.source is not Source.METRICS_CACHE or kpi.cache is None:
            continue
        mine = rows[rows["metric_name"] == kpi.cache.metric]
        if kpi.cache.reduce is CacheReduce.VALUE:
            found.append(mine.assign(kpi=kpi.name)[list(KPI_COLUMNS)])
        else:
            found += list(_rates(kpi.name, mine))
    found = [frame for frame in found if not frame.empty]
    if not found:
        return empty_samples()
    return _typed(pd.concat(found, ignore_index=True))


def _rates(kpi: str, counter: pd.DataFrame) -> Iterable[pd.DataFrame]:
    for (variant, host), rows in counter.groupby(["variant", "host"]):
        group = rows.sort_values("timestamp")
        seconds = group["timestamp"].diff().dt.total_seconds()
        increase = group["value"].diff()
        increase = increase.where(increase >= 0, group["value"])  # a reset starts from 0
        rate = (increase / seconds)[seconds > 0]
        yield pd.DataFrame(
            {
                "kpi": kpi,
                "variant": variant,
                "host": host,
                "timestamp": group["timestamp"][rate.index],
                "value": rate,
            }
        )
