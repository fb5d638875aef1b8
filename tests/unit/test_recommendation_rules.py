"""The recommendation rules and ranking, in memory: the shop of tests/e2e/test_recommendations.py
(its series and usage files) through ``recommend`` with a ``FrameSeries``, and the pieces alone.
What every number is, worked out by hand, is in the end-to-end test; here: the mechanisms."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from phoenix_core.analysis.price_books import builtin_price_books
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.pipelines.simulator import forecast
from phoenix_core.recommendations import (
    FrameSeries,
    Inputs,
    Kind,
    Outcome,
    Pricing,
    plan,
    rank_key,
    recommend,
)
from phoenix_core.recommendations.evidence import pinned_values
from phoenix_core.usage import UsageIndex, queries_from_list, usage_of
from phoenix_core.usage.records import QuerySource
from phoenix_core.wire.tasks import CollectorKind
from support.recommending import CRITICAL, LIBRARY, WINDOW, run, shop_usage, tables
from support.shop import CPU, LICENSE, MEMORY, QUEUE, REQUESTS, SESSIONS, shop_series


def _titles(outcome: Outcome) -> list[str]:
    return [r.title for r in outcome.recommendations]


def test_the_shop_ranks_by_savings() -> None:
    outcome = run(collector=CollectorKind.OTELCOL)
    assert [(r.kind, r.series_before, r.series_after) for r in outcome.recommendations] == [
        (Kind.TOP_K, 62, 12),
        (Kind.DROP_UNREAD_METRICS, 34, 1),
        (Kind.DROP_METRIC, 31, 0),
        (Kind.DROP_LABELS, 8, 4),
        (Kind.DROP_METRIC, 3, 1),
    ]
    saved = [r.savings.monthly for r in outcome.recommendations]
    assert saved == sorted(saved, reverse=True)
    assert saved == pytest.approx([617.6, 396.6, 370.6, 47.2, 23.6])


def _recommendation(saved: float | None, change: int, id_: str) -> Any:
    return SimpleNamespace(savings=SimpleNamespace(monthly=saved), series_change=change, id=id_)


def test_rank_most_savings_first_then_most_series_removed_then_id() -> None:
    rows = [
        _recommendation(None, -900, "a"),  # a GB-billed book: unknown savings go last
        _recommendation(10.0, -5, "b"),
        _recommendation(10.0, -50, "c"),
        _recommendation(10.0, -50, "0"),
        _recommendation(99.0, -1, "d"),
    ]
    assert [r.id for r in sorted(rows, key=rank_key)] == ["d", "0", "c", "b", "a"]


@pytest.mark.parametrize("collector", list(CollectorKind))
def test_no_recommendation_drops_a_label_a_query_uses(collector: CollectorKind) -> None:
    usage = shop_usage()
    outcome = run(collector=collector)
    for recommendation in outcome.recommendations:
        if recommendation.kind is Kind.DROP_LABELS:
            for label in recommendation.labels:
                assert not usage.uses(recommendation.metrics[0], label), recommendation.title
    refused = {(r.metrics[0], r.labels[0]) for r in outcome.refusals if r.kind is Kind.DROP_LABELS}
    assert {(REQUESTS, "pod"), (REQUESTS, "status"), (CPU, "pid"), (CPU, "process")} <= refused


@pytest.mark.parametrize("collector", list(CollectorKind))
def test_every_series_a_critical_selector_matches_survives_every_recommendation(
    collector: CollectorKind,
) -> None:
    series = shop_series()
    critical = (*CRITICAL, 'shop_process_cpu_seconds_total{process="proc-29"}', f"{MEMORY}")
    outcome = run(series, collector=collector, critical=critical)
    assert outcome.recommendations
    for recommendation in outcome.recommendations:
        pipeline = LIBRARY.get(recommendation.pipeline.template).render(
            recommendation.pipeline.variables
        )
        after = forecast(pipeline, series).series
        for text in critical:
            selector = parse_selector(text)
            wanted = series[[selector.matches(row) for row in _labels(series)]]
            kept = after[[selector.matches(row) for row in _labels(after)]]
            assert len(kept) == len(wanted), (recommendation.title, text)
    titles = _titles(outcome)
    assert f"drop metric {MEMORY}" not in titles  # every memory series is critical now
    top = outcome.recommendations[0]
    assert [p.selector for p in top.protects] == [
        'shop_process_cpu_seconds_total{process="proc-29"}',
        MEMORY,
        '{process="kubelet"}',
    ]


def _labels(frame: pd.DataFrame) -> list[dict[str, str]]:
    columns = [c for c in frame.columns if c != "__value__"]
    return [{c: str(v) for c, v in row.items()} for row in frame[columns].to_dict("records")]


def test_a_top_k_keeps_the_values_queries_name() -> None:
    top = run().recommendations[0]
    assert (
        top.kind is Kind.TOP_K and top.pipeline.variables["critical"][-1] == '{process="kubelet"}'
    )
    pipeline = LIBRARY.get("top-k").render(top.pipeline.variables)
    after = forecast(pipeline, shop_series()).series
    cpu = after[after["__name__"] == CPU]
    assert sorted(cpu["process"]) == [
        "kubelet",
        "proc-00",
        "proc-01",
        "proc-02",
        "proc-03",
        "proc-04",
    ]


def test_a_label_a_critical_selector_names_is_kept() -> None:
    outcome = run(collector=CollectorKind.OTELCOL, critical=(f'{REQUESTS}{{verb="GET"}}',))
    assert not [r for r in outcome.recommendations if r.kind is Kind.DROP_LABELS]
    reasons = [r.reason for r in outcome.refusals if r.labels == ["verb"]]
    assert reasons == [
        f'drop label verb of {REQUESTS}: the critical selector {REQUESTS}{{verb="GET"}} names it'
    ]


def test_a_summarys_labels_are_kept_on_otelcol_only() -> None:
    rows = [
        {"__name__": "rpc_seconds", "quantile": q, "verb": v, "__value__": 1.0}
        for q in ("0.5", "0.9")
        for v in ("GET", "POST")
    ]
    rows += [
        {"__name__": f"rpc_seconds{s}", "verb": v, "__value__": 1.0}
        for s in ("_sum", "_count")
        for v in ("GET", "POST")
    ]
    series = pd.DataFrame(rows).fillna("")
    usage = UsageIndex(queries_from_list("sum(rate(rpc_seconds_sum[5m]))\nsum(rpc_seconds)", "q"))
    refused = run(series, collector=CollectorKind.OTELCOL, usage=usage, critical=()).refusals
    assert sorted(r.reason for r in refused if r.kind is Kind.DROP_LABELS) == [
        f"drop label verb of rpc_seconds{s}: a summary's series, which otelcol keeps with all "
        "their labels (it cannot combine summaries)"
        for s in ("", "_sum")
    ]
    agent = run(series, usage=usage, critical=()).refusals
    assert [r.reason.split(": ")[1] for r in agent if r.kind is Kind.DROP_LABELS] == [
        "4 series become 2 (series that differ only in them would be summed), and "
        "prometheus-agent cannot do that",
        "2 series become 1 (series that differ only in them would be summed), and "
        "prometheus-agent cannot do that",
    ]


def test_nothing_is_proposed_while_the_usage_is_incomplete() -> None:
    outcome = run(incomplete="the usage is incomplete: 1 query failed to parse")
    assert outcome.recommendations == []
    reasons = [r.reason for r in outcome.refusals]
    assert f"Drop metric {MEMORY}: the usage is incomplete: 1 query failed to parse" in reasons
    assert f"Drop metric {QUEUE}: the usage is incomplete: 1 query failed to parse" in reasons
    assert "forecast: 0 candidates through the simulator" in [t.purpose for t in outcome.timings]


def test_candidates_over_the_series_budget_are_not_forecast() -> None:
    # the biggest first: cpu + memory (62) do not fit; memory (31), requests (8, for its
    # verb), the queues (3), sessions (2, for its node) and the license (1) do: 45
    outcome = run(series_budget=45)
    assert [r.title for r in outcome.recommendations] == [
        f"drop the 2 unread metrics {MEMORY}, {QUEUE}",  # no more series: the two's own
        f"drop metric {MEMORY}",
        f"drop metric {QUEUE}",
    ]
    over = [r.reason for r in outcome.refusals if "not forecast" in r.reason]
    assert over == [
        f"keep the 5 process values with the most {CPU} on {CPU}, {MEMORY}: not forecast: its "
        "62 series would pass the 45 series one request fetches; narrow the selector"
    ]
    assert outcome.notes == [
        "1 candidates were not forecast: the series they read would pass the budget of 45 "
        "series a request fetches (narrow the selector)"
    ]


def test_only_the_series_of_the_metrics_a_candidate_touches_are_fetched() -> None:
    series = shop_series().assign(job="shop", instance="127.0.0.1:9100")
    source = FrameSeries(series)
    metrics, labels = tables(shop_series())
    inputs = Inputs(
        selector='{job="shop"}',
        start=WINDOW[0],
        end=WINDOW[1],
        collector=CollectorKind.PROMETHEUS_AGENT,
        usage=shop_usage(),
        usage_sources=(),
        pricing=Pricing(builtin_price_books()["grafana-cloud-pro"]),
        critical_selectors=CRITICAL,
        top_k=5,
    )
    recommend(
        inputs,
        metrics=metrics,
        labels=labels,
        total_series=77,
        series=source,
        library=LIBRARY,
        now=WINDOW[1],
    )
    # one call, sorted: not the build, which a query reads and which has no label to drop
    assert source.asked == [(LICENSE, CPU, MEMORY, QUEUE, REQUESTS, SESSIONS)]


def test_a_label_with_about_one_value_per_series_looks_like_an_id() -> None:
    rows = [
        {"__name__": "http_requests_total", "path": f"/p/{i}", "__value__": 30.0 - i}
        for i in range(30)
    ]
    series = pd.DataFrame(rows)
    usage = UsageIndex(queries_from_list('http_requests_total{path="/p/7"}', "q"))
    outcome = run(series, usage=usage, critical=())
    assert [
        (r.kind, r.labels, r.series_before, r.series_after) for r in outcome.recommendations
    ] == [
        (Kind.TOP_K, ["path"], 30, 6)  # the top 5 and /p/7, which the query names
    ]


def test_the_id_names_the_proposal() -> None:
    first = {r.title: r.id for r in run().recommendations}
    again = {r.title: r.id for r in run(series_budget=10_000).recommendations}
    assert first == again
    other = {r.title: r.id for r in run(critical=(LICENSE,)).recommendations}
    assert other[f"drop metric {MEMORY}"] != first[f"drop metric {MEMORY}"]
    otelcol = {r.title: r.id for r in run(collector=CollectorKind.OTELCOL).recommendations}
    assert otelcol[f"drop metric {MEMORY}"] != first[f"drop metric {MEMORY}"]


def test_plan_refuses_every_candidate_when_told_why() -> None:
    metrics, labels = tables(shop_series())
    found = plan(
        metrics,
        labels,
        shop_usage(),
        critical=CRITICAL,
        collector=CollectorKind.OTELCOL,
        k=5,
        incomplete="no usage source is stored",
    )
    assert found.candidates == []
    assert f"Drop label verb of {REQUESTS}: no usage source is stored" in [
        r.reason for r in found.refusals
    ]


def _record(query: str) -> Any:
    return usage_of(QuerySource(kind="list", file="q", line=1), query)


@pytest.mark.parametrize(
    ("query", "values"),
    [
        ('x{pid="1"}', {"1"}),
        ('rate(x{pid=~"1|2"}[5m]) > 0', {"1", "2"}),
        ('x{pid="1"} / on (job) y', {"1"}),
        ('{__name__=~"x|z", pid="3"}', {"3"}),
        ('x{pid="1"} or x{pid="2"}', {"1", "2"}),
        ('x{pid="1", pid=~"1|2"}', {"1"}),
        ('absent(x{pid="9"})', {"9"}),
        ("y", set()),  # x is not read here at all
        ("x", None),
        ("sum(x)", None),
        ('x{pid=~"1.*"}', None),
        ('x{pid=~".*"}', None),  # a dashboard variable, substituted
        ('x{pid!="1"}', None),
        ('x{pid=""}', None),  # the series without a pid: a top-k would cut them
        ('x{pid="1"} or x', None),
        ('{__name__=~"x.*"}', None),
        ('{job="api"}', None),
    ],
)
def test_the_values_a_query_names(query: str, values: set[str] | None) -> None:
    found = pinned_values(_record(query), "x", "pid")
    assert found == (None if values is None else frozenset(values))
