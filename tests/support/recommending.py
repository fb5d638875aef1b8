"""The shop of tests/e2e/test_recommendations.py in memory: its inventory tables, its usage (the
fixture files) and ``recommend`` run on them with a ``FrameSeries``, as the unit tests of the
recommendations use them; and the ``Recommendations`` use case over a real store with the
shop's inventory and series served from memory instead of a Prometheus (``shop_use_case``), as
the integration tests use it on both databases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from phoenix_core.analysis.price_books import builtin_price_books
from phoenix_core.controller.deployment import Deployer
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.metrics.inventory import PAIR_COLUMNS, Inventory
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.recommendations import FrameSeries, Inputs, Outcome, Pricing, recommend
from phoenix_core.store.session import Store
from phoenix_core.usage import (
    UsageIndex,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)
from phoenix_core.use_cases.cardinality import Cardinality
from phoenix_core.use_cases.experiments import Experiments
from phoenix_core.use_cases.recommendations import Recommendations
from phoenix_core.wire.tasks import CollectorKind
from support.shop import FIXTURES, LICENSE, shop_series

__all__ = [
    "CRITICAL",
    "EXPORTER",
    "LIBRARY",
    "SOURCES",
    "WINDOW",
    "ShopCardinality",
    "ShopSeriesReader",
    "run",
    "shop_usage",
    "shop_use_case",
    "tables",
]

CRITICAL = ('shop_queue_depth{queue="orders"}', LICENSE)
LIBRARY = TemplateLibrary.builtin()
WINDOW = (datetime(2026, 12, 1, 11, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC))
SOURCES = ("shop-rules@1", "shop-dashboard@1", "shop-queries@1")
EXPORTER = "127.0.0.1:9100"
"""The shop's scrape target (``instance``) in memory."""


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
        series=FrameSeries(series.assign(job="shop", instance=EXPORTER)),
        library=LIBRARY,
        now=WINDOW[1],
    )


@dataclass(frozen=True)
class ShopCardinality(Cardinality):
    """The shop's inventory without a Prometheus: checked as ``Cardinality`` checks, every
    series of the shop in the window asked."""

    def inventory(
        self,
        selector: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 20,
    ) -> Inventory:
        parsed, start, end = self.check(selector, start, end, limit)
        metrics, labels = tables(shop_series())
        return Inventory(
            selector=parsed.text,
            start=start,
            end=end,
            limit=limit,
            total_series=len(shop_series()),
            created=0,
            ended=0,
            metric_count=len(metrics),
            label_count=len(labels),
            metrics=metrics,
            labels=labels,
            pairs=pd.DataFrame(columns=list(PAIR_COLUMNS)),
            queries=(),
        )


class ShopSeriesReader:
    """The shop's series (job ``shop``, instance ``EXPORTER``) whose names every
    ``__name__=~"…"`` matcher of a query matches, as ``PrometheusReader.instant_series``
    answers them."""

    def instant_series(
        self, query: str, at: datetime | None = None
    ) -> tuple[list[dict[str, str]], list[float]]:
        frame = shop_series().assign(job="shop", instance=EXPORTER)
        for pattern in re.findall(r'__name__=~"((?:[^"\\]|\\.)*)"', query):
            frame = frame[[re.fullmatch(pattern, name) is not None for name in frame["__name__"]]]
        rows = frame.drop(columns="__value__").to_dict("records")
        labels = [{k: str(v) for k, v in row.items() if v != ""} for row in rows]
        return labels, [float(v) for v in frame["__value__"]]

    def close(self) -> None:
        pass


def shop_use_case(store: Store, **given: Any) -> Recommendations:
    """``Recommendations`` on ``store`` over the shop in memory (drafts checked against the
    built-in templates); ``given``: more of its fields (``clock``, ``retention``)."""
    return Recommendations(
        store,
        ShopCardinality(reader=_no_prometheus),
        Experiments(store, Deployer(ControllerSettings(), LIBRARY)),
        LIBRARY,
        ShopSeriesReader,
        **given,
    )


def _no_prometheus() -> Any:
    raise AssertionError("the shop in memory asks no Prometheus")
