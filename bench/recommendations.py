"""Benchmark: recommendations over an inventory of 1,000,000 series with 8 labels and the usage
of 500 rules and 50 Grafana dashboards.

    .venv/bin/python bench/recommendations.py [--series N] [--repeat R] [--budget B]

The inventory: 50 metrics of 20,000 series each, 40 of them named as ``bench/usage.py``'s
generated queries read them and 10 that nothing reads; labels ``job`` (1 value), ``instance``
(4), ``namespace`` (5), ``pod`` (10), ``container`` (5), ``code`` (4), ``method`` (2) and
``id`` (one value per series of a metric: the i-th series of every metric has id i). Its
tables (series per metric, values per metric and label) and the series themselves (with a
latest value each) are built in memory; the usage is ``bench/usage.py``'s 500 rules and 50
dashboards of 10 panels, extracted into a ``UsageIndex``.

With ``--fetch``, the Prometheus side is measured apart: ``bench/cardinality.py``'s data set
(1,000,000 series in a real Prometheus, backfilled; ``--data DIR`` keeps it) answers
``PrometheusSeries.series`` (the ``last_over_time`` a request asks for the metrics its
candidates touch) for 100,000, 200,000 and 250,000 series (the API's budget).

Timed: ``phoenix_core.recommendations.recommend`` (what ``GET /api/v1/recommendations`` runs
once Prometheus has answered): the rules over the inventory and the usage, the series of the
metrics the candidates touch taken from the in-memory frame (``FrameSeries``, standing for the
Prometheus fetch), normalised once, every candidate through the forecast simulator, savings
under grafana-cloud-pro, the ranking; on each collector. Not timed: the inventory's and the
series' Prometheus time (bench/cardinality.py, bench/README.md) and the usage extraction
(bench/usage.py, printed apart here). Goal (issue, section 3): under 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from usage import dashboard, metric_names, rule_files  # noqa: E402

from phoenix_core.analysis.price_books import builtin_price_books  # noqa: E402
from phoenix_core.pipelines.templates import TemplateLibrary  # noqa: E402
from phoenix_core.recommendations import (  # noqa: E402
    DEFAULT_SERIES_BUDGET,
    FrameSeries,
    Inputs,
    Outcome,
    Pricing,
    recommend,
)
from phoenix_core.usage import (  # noqa: E402
    UsageIndex,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)
from phoenix_core.wire.tasks import CollectorKind  # noqa: E402

METRICS = 50
READ = 40
LABELS = {  # label: values (id: one per series of a metric)
    "job": 1,
    "instance": 4,
    "namespace": 5,
    "pod": 10,
    "container": 5,
    "code": 4,
    "method": 2,
}


def usage_index(rules: int, dashboards: int) -> tuple[UsageIndex, list[str], float]:
    """``bench/usage.py``'s usage, 40 of the names its queries read (its 10 histograms' bucket
    series, 15 counters, 15 gauges) and the seconds its extraction took."""
    rng = random.Random(11)
    names = metric_names(rng)
    texts = rule_files(rules, rng, names)
    boards = [dashboard(n, 10, rng, names) for n in range(dashboards)]
    began = time.perf_counter()
    records = []
    for i, text in enumerate(texts):
        records.extend(queries_from_rules(text, f"rules-{i}"))
    for i, text in enumerate(boards):
        records.extend(queries_from_dashboard(text, f"dashboard-{i}"))
    index = UsageIndex(records)
    took = time.perf_counter() - began
    gauges, counters, histograms = names
    read = [*histograms, *counters[:15], *gauges[:15]]  # (histograms without their le here)
    return index, read, took


def inventory(names: list[str], series: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The series (one row each, labels as categoricals, ``__value__``), and the inventory's
    metrics [metric, series] and labels [metric, label, values] tables."""
    per_metric = series // METRICS
    metrics = [*names[:READ], *(f"bench_unread_{i:02d}" for i in range(METRICS - READ))]
    index = np.arange(per_metric)
    columns: dict[str, object] = {
        "__name__": pd.Categorical.from_codes(np.repeat(np.arange(METRICS), per_metric), metrics)
    }
    for label, count in LABELS.items():
        values = [f"{label}-{v}" for v in range(count)]
        codes = np.tile(index % count, METRICS)
        columns[label] = pd.Categorical.from_codes(codes, values)
    columns["id"] = pd.Categorical.from_codes(
        np.tile(index, METRICS), [f"{i:06d}" for i in range(per_metric)]
    )
    columns["__value__"] = np.random.default_rng(7).exponential(100.0, METRICS * per_metric)
    frame = pd.DataFrame(columns)
    table = pd.DataFrame({"metric": metrics, "series": per_metric})
    rows = [
        {"metric": metric, "label": label, "values": min(count, per_metric)}
        for metric in metrics
        for label, count in (*LABELS.items(), ("id", per_metric))
    ]
    return frame, table, pd.DataFrame(rows)


def run(  # noqa: PLR0917 - a benchmark's one call
    collector: CollectorKind,
    frame: pd.DataFrame,
    metrics: pd.DataFrame,
    labels: pd.DataFrame,
    index: UsageIndex,
    budget: int,
    k: int,
) -> tuple[float, Outcome]:
    end = datetime(2026, 12, 8, 12, tzinfo=UTC)
    inputs = Inputs(
        selector='{__name__=~".+"}',
        start=end - timedelta(hours=1),
        end=end,
        collector=collector,
        usage=index,
        usage_sources=("bench",),
        pricing=Pricing(builtin_price_books()["grafana-cloud-pro"], 1, 15.0),
        critical_selectors=('{namespace="namespace-0", pod="pod-0"}',),
        top_k=k,
        series_budget=budget,
    )
    library = TemplateLibrary.builtin()
    began = time.perf_counter()
    outcome = recommend(
        inputs,
        metrics=metrics,
        labels=labels,
        total_series=len(frame),
        series=FrameSeries(frame),
        library=library,
        now=end,
    )
    return time.perf_counter() - began, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="series a request may fetch (default: every series, the worst case; the API's "
        f"own bound is {DEFAULT_SERIES_BUDGET:,})",
    )
    parser.add_argument(
        "--scenario",
        choices=["issue", "every-kind"],
        default="issue",
        help="issue: bench/usage.py's queries, k = 20 (the figure); every-kind: one query per "
        'read metric, sum by (pod) (rate(M{pod="pod-3"}[5m])), k = 5, so that every kind is '
        "forecast, a top-k over the 1,000,000 series among them",
    )
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="also time fetching series from a real Prometheus (bench/cardinality.py's data)",
    )
    parser.add_argument("--data", type=Path, help="with --fetch: keep its data here (reused)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
        f"{platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}"
    )
    index, names, extraction = usage_index(args.rules, args.dashboards)
    statuses = ("ok", "error", "skipped")
    counts = {status: sum(1 for r in index.records if r.status == status) for status in statuses}
    print(
        f"usage: {len(index.records):,} queries ({counts}) from {args.rules} rules and "
        f"{args.dashboards} dashboards, extracted in {extraction:.3f} s (not in the figure)"
    )
    k = 20
    if args.scenario == "every-kind":
        text = "\n".join(f'sum by (pod) (rate({m}{{pod="pod-3"}}[5m]))' for m in names)
        index, k = UsageIndex(queries_from_list(text, "every-kind")), 5
        print(f"scenario every-kind: {len(index.records)} queries instead, k = {k}")
    frame, metrics, labels = inventory(names, args.series)
    read = sum(index.is_used(m) for m in metrics["metric"])
    print(
        f"inventory: {len(frame):,} series, {len(metrics)} metrics ({read} read by a query), "
        f"{len(labels.label.unique())} labels, {len(labels)} (metric, label) rows"
    )
    budget = args.budget or len(frame)
    for collector in CollectorKind:
        times = []
        outcome = None
        for attempt in range(args.repeat):
            took, outcome = run(collector, frame, metrics, labels, index, budget, k)
            times.append(took)
            print(f"{collector.value}, run {attempt + 1}: {took:.3f} s")
        assert outcome is not None
        kinds = pd.Series([r.kind.value for r in outcome.recommendations]).value_counts()
        print(
            f"{collector.value}: best {min(times):.3f} s (goal: under 3 s); "
            f"{len(outcome.recommendations)} recommendations {dict(kinds)}, "
            f"{len(outcome.refusals)} refusals"
        )
        for timing in outcome.timings:
            print(f"    {timing.seconds:7.3f} s  {timing.purpose}")
        for rank, best in enumerate(outcome.recommendations[:4], 1):
            print(
                f"    #{rank} {best.title}: {best.series_before:,} -> {best.series_after:,} "
                f"series, saves {best.savings.monthly:,.2f} {best.savings.currency} a month"
            )

    if args.fetch:
        fetch(args.data)


def fetch(kept: Path | None) -> None:
    """Time ``PrometheusSeries.series`` against ``bench/cardinality.py``'s 1,000,000 series."""
    import shutil
    import tempfile

    import cardinality as store_bench

    from phoenix_core.metrics.inventory_queries import Window
    from phoenix_core.metrics.reader import PrometheusReader
    from phoenix_core.pipelines.selectors import parse_selector
    from phoenix_core.use_cases.recommendations import PrometheusSeries

    store_bench.exit_on_sigterm()
    data = kept or Path(tempfile.mkdtemp(prefix="phoenix-bench-data-"))
    stamp = data / "phoenix-bench-window"
    if not stamp.exists():
        start, end = store_bench.window()
        store_bench.backfill(data, 1_000_000, 5, start)
        stamp.write_text(f"{start} {end}\n")
    start, end = (datetime.fromtimestamp(int(t), UTC) for t in stamp.read_text().split())
    window = Window(parse_selector(store_bench.SELECTOR), start, end)
    try:
        with (
            store_bench.prometheus(data) as (url, process),
            PrometheusReader(url, timeout=600) as reader,
        ):
            source = PrometheusSeries(reader, window)
            for metrics in (5, 10, 12, 5):  # 20,000 series each; the last: again, warm
                names = [f"bench_metric_{m:02d}" for m in range(metrics)]
                began, used = time.perf_counter(), store_bench.cpu(process)
                frame = source.series(names)
                took, spent = time.perf_counter() - began, store_bench.cpu(process) - used
                print(
                    f"fetch {len(frame):,} series of {metrics} metrics: {took:.2f} s, "
                    f"Prometheus CPU {spent:.2f} s"
                )
    finally:
        if kept is None:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
