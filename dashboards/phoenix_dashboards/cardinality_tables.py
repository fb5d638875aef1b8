"""The Cardinality explorer's tables and charts, from what ``GET /api/v1/cardinality``,
``GET /api/v1/usage`` and ``GET /api/v1/recommendations`` answer (the notebook
``notebooks/cardinality-explorer.ipynb``'s tables): records in, DataFrames and HoloViews
elements out, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh
import pandas as pd

from phoenix_core.recommendations.rules import NEVER_DROPPED

__all__ = [
    "LABEL_COLUMNS",
    "METRIC_COLUMNS",
    "RECOMMENDATION_COLUMNS",
    "REFUSAL_COLUMNS",
    "USAGE_COLUMNS",
    "inventory_summary",
    "labels_table",
    "metrics_table",
    "parse_host_selector",
    "parse_hosts",
    "recommendations_table",
    "refusals_table",
    "top_chart",
    "usage_row",
    "window",
]

METRIC_COLUMNS = ["metric", "series", "created", "ended"]
LABEL_COLUMNS = ["metric", "label", "values"]
USAGE_COLUMNS = ["metric", "series", "queries", "sources", "labels read", "labels unread"]
RECOMMENDATION_COLUMNS = ["id", "kind", "title", "series before", "series after", "change (%)",
                          "savings / month", "savings / year", "of the bill (%)", "currency",
                          "usage", "protects"]  # fmt: skip
REFUSAL_COLUMNS = ["kind", "metrics", "labels", "series", "reason"]


def window(end: datetime, minutes: float) -> tuple[str, str]:
    """The window ``minutes`` long ending at ``end``, as the API takes it (RFC 3339)."""
    start = end - timedelta(minutes=minutes)
    return start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")


def inventory_summary(answer: Mapping[str, Any]) -> str:
    """One line: series and metrics the selector matches in the window, created and ended."""
    return (
        f"**{answer['total_series']:,} series** of {answer['metric_count']:,} metrics match "
        f"`{answer['selector']}` from {answer['start']} to {answer['end']} "
        f"({answer['window_seconds']:,.0f} s): {answer['created']:,} created and "
        f"{answer['ended']:,} ended in the window."
    )


def metrics_table(answer: Mapping[str, Any]) -> pd.DataFrame:
    """Series per metric in the window, most first (and created, ended)."""
    return pd.DataFrame(list(answer.get("metrics", [])), columns=METRIC_COLUMNS)


def labels_table(answer: Mapping[str, Any]) -> pd.DataFrame:
    """Distinct values per metric and label in the window, most first."""
    return pd.DataFrame(list(answer.get("labels", [])), columns=LABEL_COLUMNS)


def usage_row(
    metric: str, series: int, row: Mapping[str, Any] | None, labels: Sequence[str]
) -> dict[str, Any]:
    """A metric's usage (its row of ``GET /api/v1/usage?metric=``): how many queries read it
    and in which sources, the labels they read, and of its ``labels`` (those in the window)
    the ones no query reads and a reduction could drop."""
    droppable = set(labels) - NEVER_DROPPED
    if row is None or not row["queries"]:
        return {"metric": metric, "series": series, "queries": 0, "sources": "",
                "labels read": "", "labels unread": "(the metric is unread)"}  # fmt: skip
    if row["all_labels"]:
        unread = set(row["all_except"]) & droppable
    else:
        unread = droppable - set(row["labels"])
    return {
        "metric": metric,
        "series": series,
        "queries": row["queries"],
        "sources": ", ".join(row["sources"]),
        "labels read": row["label_use"],
        "labels unread": ", ".join(sorted(unread)),
    }


def recommendations_table(answer: Mapping[str, Any]) -> pd.DataFrame:
    """One row per recommendation, best first: its series before and after, its forecast
    savings per month and year (and the share of the bill), what reads it, what it keeps."""
    rows = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "title": r["title"],
            "series before": r["series_before"],
            "series after": r["series_after"],
            "change (%)": r["change_percent"],
            "savings / month": r["savings"]["monthly"],
            "savings / year": r["savings"]["yearly"],
            "of the bill (%)": r["savings"].get("percent"),
            "currency": r["savings"]["currency"],
            "usage": r["usage"]["summary"],
            "protects": "; ".join(
                f"{p['selector']} ({p['series']} series)" for p in r.get("protects", [])
            ),
        }
        for r in answer.get("recommendations", [])
    ]
    return pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS)


def refusals_table(answer: Mapping[str, Any]) -> pd.DataFrame:
    """The reductions considered and refused, with why."""
    rows = [
        {"kind": r["kind"], "metrics": ", ".join(r["metrics"]), "labels": ", ".join(r["labels"]),
         "series": r["series"], "reason": r["reason"]}
        for r in answer.get("refusals", [])
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=REFUSAL_COLUMNS)


def top_chart(frame: pd.DataFrame, bar: str, value: str, title: str, rows: int = 15) -> Any:
    """Horizontal bars of ``value`` per ``bar``, the biggest on top (``rows`` of them)."""
    data = frame.head(rows).iloc[::-1]
    return hv.Bars(data, kdims=[bar], vdims=[value]).opts(
        invert_axes=True, responsive=True, height=80 + 22 * max(len(data), 1), title=title,
        xlabel="", ylabel=value, tools=["hover"], color="#4c78a8",
    )  # fmt: skip


def parse_hosts(text: str) -> list[str]:
    """Host names from a comma- or line-separated list."""
    return [h.strip() for h in text.replace("\n", ",").split(",") if h.strip()]


def parse_host_selector(text: str) -> dict[str, str]:
    """A host selector from ``key=value`` pairs separated by commas; ``ValueError`` names a
    pair without ``=``."""
    selector = {}
    for pair in text.replace("\n", ",").split(","):
        if not pair.strip():
            continue
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"{pair.strip()!r} is not key=value")
        selector[key.strip()] = value.strip()
    return selector
