"""The shop of tests/e2e/test_recommendations.py in memory: its inventory tables, its usage (the
fixture files) and ``recommend`` run on them with a ``FrameSeries``, as the unit tests of the
recommendations use them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from phoenix_core.analysis.price_books import builtin_price_books
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.recommendations import FrameSeries, Inputs, Outcome, Pricing, recommend
from phoenix_core.usage import (
    UsageIndex,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)
from phoenix_core.wire.tasks import CollectorKind
from support.shop import FIXTURES, LICENSE, shop_series

__all__ = ["CRITICAL", "LIBRARY", "SOURCES", "WINDOW", "run", "shop_usage", "tables"]

CRITICAL = ('shop_queue_depth{queue="orders"}', LICENSE)
LIBRARY = TemplateLibrary.builtin()
WINDOW = (datetime(2026, 12, 1, 11, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))
SOURCES = ("shop-rules@1", "shop-dashboard@1", "shop-queries@1")


def tables(series: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The inventory's metrics [metric, series] and labels [metric, label, values] tables."""
    metrics = series.groupby("__name__").size().rename("series").rename_axis("metric")
    rows = []
    for metric, group in series.groupby("__name__"):
        for label in group.columns.drop(["__name__", "__value__"]):
            values = group.loc[group[label] != "", label].nunique()
            if values:
                rows.append({"metric": metric, "label": label, "values": values})
    return metrics.reset_index(), pd.DataFrame(rows, columns=["metric", "label", "values"])


def shop_usage(*extra: str) -> UsageIndex:
    """The shop's usage files, and ``extra`` queries (a list source named ``extra``)."""
    records = [
        *queries_from_rules((FIXTURES / "shop-rules.yaml").read_text(), "shop-rules"),
        *queries_from_dashboard((FIXTURES / "shop-dashboard.json").read_text(), "shop-dashboard"),
        *queries_from_list((FIXTURES / "shop-queries.txt").read_text(), "shop-queries"),
        *queries_from_list("\n".join(extra), "extra"),
    ]
    return UsageIndex(records)


def run(
    series: pd.DataFrame | None = None,
    *,
    collector: CollectorKind = CollectorKind.PROMETHEUS_AGENT,
    usage: UsageIndex | None = None,
    critical: tuple[str, ...] = CRITICAL,
    **given: Any,
) -> Outcome:
    """``recommend`` on ``series`` (the shop's by default), k = 5, grafana-cloud-pro on 2,000
    hosts at a sample a minute; ``given``: more ``Inputs``."""
    series = shop_series() if series is None else series
    metrics, labels = tables(series)
    inputs = Inputs(
        selector='{job="shop"}',
        start=WINDOW[0],
        end=WINDOW[1],
        collector=collector,
        usage=usage or shop_usage(),
        usage_sources=SOURCES,
        pricing=Pricing(builtin_price_books()["grafana-cloud-pro"], 2000, 60),
        critical_selectors=critical,
        top_k=5,
        **given,
    )
    return recommend(
        inputs,
        metrics=metrics,
        labels=labels,
        total_series=len(series),
        series=FrameSeries(series.assign(job="shop", instance="127.0.0.1:9100")),
        library=LIBRARY,
        now=WINDOW[1],
    )
