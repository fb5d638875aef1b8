"""Recommendations against a real Prometheus scraping a known shop, with known usage files
(tests/fixtures/recommendations/), through the real API, client and CLI: every recommendation
and every refusal below is worked out by hand, series and savings included; a draft experiment
made of the best one is created, dry-run and started.

The shop (job "shop"; every series also has ``instance``, the exporter), 77 series:

    shop_requests_total{pod, status, verb}    web-1, web-2 × 200, 500 × GET, POST     8
    shop_sessions{pod, node}                  web-1 on node-a, web-2 on node-b         2
    shop_process_cpu_seconds_total{process, pid}
                                              kubelet (pid 1, 0.5 s) and proc-00 …
                                              proc-29 (pids 1000 …, 100 - i s)        31
    shop_process_memory_bytes{process, pid}   the same 31 processes                   31
    shop_queue_depth{queue}                   orders, payments, emails                 3
    shop_build_info{version}                                                           1
    shop_license_expiry_seconds                                                        1

The usage: rules ``HighErrorRate`` (``sum by (status) (rate(shop_requests_total{status="500"}
[5m])) > 1``: requests' status) and ``KubeletBusy`` (``rate(shop_process_cpu_seconds_total
{process="kubelet"}[5m]) > 0.5``: a comparison, every label of cpu, and it names the process
kubelet); the dashboard's panels "Requests by pod" (requests' pod) and "Sessions" (``sum by
(pod) (shop_sessions)``: sessions' pod); the runbook's ``count({__name__=~"shop_build_.*"})``
(the build, by a pattern). Critical selectors: ``shop_queue_depth{queue="orders"}`` and
``shop_license_expiry_seconds``. Top-k with k = 5.

Savings under grafana-cloud-pro on 2,000 hosts, a sample a minute (so the data points per
minute equal the series: Grafana bills the series): 77 × 2,000 = 154,000 series cost
(100,000 - 10,000) × $6.50/1k + (154,000 - 100,000) × $5.90/1k = 585 + 318.60 = $903.60.

The single drops (memory 31 -> 0, the queues 3 -> 1) also make one combined drop, 34 -> 1: 44
series left, 88,000 billed, (88,000 - 10,000) × $6.50/1k = $507, so it saves $396.60 a month,
more than the single savings summed (370.60 + 23.60 = $394.20): tiers are not additive (the
queues' 2 × 2,000 series come off the $5.90 tier alone, off the $6.50 one once memory is gone).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from phoenix_core.client import PhoenixClient
from phoenix_core.errors import NotFound, ValidationFailed
from phoenix_core.metrics.inventory_queries import Window
from phoenix_core.metrics.reader import MetricsUnavailable, PrometheusReader
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.use_cases.recommendations import PrometheusSeries
from support.processes import run_cli
from support.shop import (
    BUILD,
    CPU,
    LICENSE,
    MEMORY,
    QUEUE,
    REQUESTS,
    SELECTOR,
    SESSIONS,
    USAGE_FILES,
    ShopWorld,
    grafana,
    shop_world,
)

CRITICAL = ['shop_queue_depth{queue="orders"}', LICENSE]
SOURCES = ["shop-rules", "shop-dashboard", "shop-queries"]


BEFORE = grafana(77)  # $903.60
assert round(BEFORE, 2) == 903.60
RULES = "shop-rules › group 'shop'"
KUBELET_BUSY = f"{RULES} › alert 'KubeletBusy'"
KUBELET_QUERY = 'rate(shop_process_cpu_seconds_total{process="kubelet"}[5m]) > 0.5'
BY_POD = "sum by (pod) (rate(shop_requests_total[$__rate_interval]))"
PANEL = "shop-dashboard › dashboard shop 'Shop' › panel 1 'Requests by pod' › target A"

# (kind, title, series before, after, monthly savings, protected (selector, series)), ranked
PROMETHEUS_AGENT = [
    # keep the 5 busiest processes (proc-00 … proc-04) and kubelet, which KubeletBusy names:
    # 31 -> 6 on cpu and on memory, 62 -> 12; 154,000 -> 104,000 - 50 × 2,000 = 54,000
    (
        "top_k",
        f"keep the 5 process values with the most {CPU} on {CPU}, {MEMORY}",
        62,
        12,
        grafana(77) - grafana(27),  # 903.60 - (44,000 × 6.50/1k = 286) = 617.60
        [('{process="kubelet"}', 2)],
    ),
    # both single drops below at once: 34 -> 1; 154,000 -> 88,000 costs (78,000 × 6.50/1k = 507)
    (
        "drop_unread_metrics",
        f"drop the 2 unread metrics {MEMORY}, {QUEUE}",
        34,
        1,
        grafana(77) - grafana(44),  # 903.60 - 507 = 396.60
        [('shop_queue_depth{queue="orders"}', 1)],
    ),
    # nobody reads memory: 31 -> 0
    ("drop_metric", f"drop metric {MEMORY}", 31, 0, grafana(77) - grafana(46), []),  # 370.60
    # nobody reads the queues; the orders queue is critical: 3 -> 1
    (
        "drop_metric",
        f"drop metric {QUEUE}",
        3,
        1,
        grafana(77) - grafana(75),  # 903.60 - (585 + 50 × 5.90 = 880) = 23.60
        [('shop_queue_depth{queue="orders"}', 1)],
    ),
]
# otelcol can sum: requests' verb goes, GET and POST summed: 8 -> 4 (903.60 - 856.40 = 47.20)
VERB = ("drop_labels", f"drop label verb of {REQUESTS}", 8, 4, grafana(77) - grafana(73), [])
OTELCOL = [*PROMETHEUS_AGENT[:3], VERB, PROMETHEUS_AGENT[3]]

PIPELINE_TOP_K = {
    "template": "top-k",
    "template_version": 1,
    "variables": {
        "metric": CPU,
        "k": 5,
        "by_label": "process",
        "apply_to": f"{CPU}|{MEMORY}",
        "critical": [*CRITICAL, '{process="kubelet"}'],
    },
}


def refusals(collector: str) -> list[tuple[str, list[str], list[str], int, str]]:
    """(kind, metrics, labels, series, reason), most series first, then kind, metrics, labels."""
    verb = (
        f"drop label verb of {REQUESTS}: 8 series become 4 (series that differ only in them "
        "would be summed), and prometheus-agent cannot do that: relabelling cannot sum "
        "series: it runs only where no series collide, so every series stays (with fewer "
        "labels)"
    )
    return [
        ("drop_labels", [CPU], ["pid"], 31,
         f"drop label pid of {CPU}: {KUBELET_BUSY} uses it: {KUBELET_QUERY}"),
        ("drop_labels", [CPU], ["process"], 31,
         f"drop label process of {CPU}: {KUBELET_BUSY} uses it: {KUBELET_QUERY}"),
        ("drop_metric", [CPU], [], 31,
         f"drop metric {CPU}: 1 query reads it, first {KUBELET_BUSY}: {KUBELET_QUERY}"),
        ("top_k", [CPU], ["pid"], 31,
         f"top-5 of pid on {CPU}: {KUBELET_BUSY} reads every pid: {KUBELET_QUERY}"),
        ("top_k", [REQUESTS, SESSIONS], ["pod"], 10,
         f"top-5 of pod: {REQUESTS}, which ranks them, has 2 values of it, not more than 5: "
         "all would stay"),
        ("drop_labels", [REQUESTS], ["pod"], 8,
         f"drop label pod of {REQUESTS}: {PANEL} uses it: {BY_POD}"),
        ("drop_labels", [REQUESTS], ["status"], 8,
         f"drop label status of {REQUESTS}: {RULES} › alert 'HighErrorRate' uses it: "
         'sum by (status) (rate(shop_requests_total{status="500"}[5m])) > 1'),
        *([("drop_labels", [REQUESTS], ["verb"], 8, verb)] if collector == "prometheus-agent"
          else []),
        ("drop_metric", [REQUESTS], [], 8,
         f"drop metric {REQUESTS}: 2 queries read it, first {RULES} › alert 'HighErrorRate': "
         'sum by (status) (rate(shop_requests_total{status="500"}[5m])) > 1'),
        ("drop_labels", [SESSIONS], ["node"], 2,
         f"drop label node of {SESSIONS}: saves no series: no two of its 2 series coincide "
         "once they are removed (the other labels tell them apart)"),
        ("drop_labels", [SESSIONS], ["pod"], 2,
         f"drop label pod of {SESSIONS}: shop-dashboard › dashboard shop 'Shop' › panel 2 "
         "'Sessions' › target A uses it: sum by (pod) (shop_sessions)"),
        ("drop_metric", [SESSIONS], [], 2,
         f"drop metric {SESSIONS}: 1 query reads it, first shop-dashboard › dashboard shop "
         "'Shop' › panel 2 'Sessions' › target A: sum by (pod) (shop_sessions)"),
        ("drop_metric", [BUILD], [], 1,
         f"drop metric {BUILD}: 1 query reads it, first shop-queries:2: "
         'count({__name__=~"shop_build_.*"})'),
        ("drop_metric", [LICENSE], [], 1,
         f"drop metric {LICENSE}: removes no series: the critical selectors protect all 1 of "
         "its series"),
    ]  # fmt: skip


def recommend(
    world: ShopWorld, client: PhoenixClient, selector: str = SELECTOR, **given: Any
) -> dict[str, Any]:
    """The shop's recommendations as the module docstring works them out (``given`` changes)."""
    asked: dict[str, Any] = {
        "start": world.start,
        "end": world.end,
        "usage_sources": SOURCES,
        "critical_selectors": CRITICAL,
        "price_book": "grafana-cloud-pro",
        "fleet_hosts": 2000,
        "scrape_interval_seconds": 60,
        "top_k": 5,
        "limit": 100,
    }
    return client.recommendations(selector, **(asked | given))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopWorld]:
    with shop_world(tmp_path_factory.mktemp("api"), usage_files=USAGE_FILES) as running:
        yield running


def _is_id(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _ranked(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r["kind"],
            r["title"],
            r["series_before"],
            r["series_after"],
            r["savings"]["monthly"],
            [(p["selector"], p["series"]) for p in r["protects"]],
        )
        for r in answer["recommendations"]
    ]


def _expected(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(*row[:4], round(row[4], 6), row[5]) for row in rows]


def _refused(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (r["kind"], r["metrics"], r["labels"], r["series"], r["reason"]) for r in answer["refusals"]
    ]


@pytest.mark.parametrize(
    ("collector", "expected"),
    [("prometheus-agent", PROMETHEUS_AGENT), ("otelcol", OTELCOL)],
    ids=["prometheus-agent", "otelcol"],
)
def test_every_recommendation_and_refusal_is_the_one_worked_out_by_hand(
    world: ShopWorld, collector: str, expected: list[tuple[Any, ...]]
) -> None:
    with world.client() as client:
        answer = recommend(world, client, collector=collector)
    assert _ranked(answer) == _expected(expected)
    assert _refused(answer) == refusals(collector)
    assert (answer["total_series"], answer["metric_count"]) == (77, 7)
    assert answer["monthly_cost"] == pytest.approx(903.60)
    assert answer["usage_sources"] == ["shop-rules@1", "shop-dashboard@1", "shop-queries@1"]
    assert answer["usage_complete"] is True
    assert (answer["recommendation_count"], answer["refusal_count"]) == (
        len(expected),
        len(refusals(collector)),
    )

    top = answer["recommendations"][0]
    assert top["pipeline"] == PIPELINE_TOP_K
    assert top["metrics"] == [CPU, MEMORY] and top["labels"] == ["process"]
    assert [(m["metric"], m["series_before"], m["series_after"]) for m in top["per_metric"]] == [
        (CPU, 31, 6),
        (MEMORY, 31, 6),
    ]
    assert [(s["kind"], s["series_in"], s["series_out"]) for s in top["waterfall"]] == [
        ("protect", 62, 62),
        ("top_k", 62, 12),
    ]
    assert (top["samples_per_second_before"], top["samples_per_second_after"]) == (62 / 60, 0.2)
    assert (top["series_change"], top["change_percent"]) == (-50, round(-50 / 62 * 100, 2))
    savings = top["savings"]
    assert (savings["total_series_before"], savings["total_series_after"]) == (77, 27)
    assert savings["monthly_before"] == pytest.approx(903.60)
    assert savings["monthly_after"] == pytest.approx(286.0)
    assert savings["yearly"] == pytest.approx(617.60 * 12)
    assert (savings["currency"], savings["fleet_hosts"], savings["meter"]) == (
        "USD",
        2000,
        "active_series",
    )
    assert top["usage"]["summary"] == (
        "every query reading them names the process values it reads (1 value, protected)"
    )
    assert [(q["where"], q["reads"]) for q in top["usage"]["queries"]] == [
        (KUBELET_BUSY, 'process="kubelet" (protected)')
    ]
    assert top["critical_selectors"] == CRITICAL
    assert top["targets"] == [{"job": "shop", "instance": world.exporter, "series": 62}]
    assert top["usage_sources"] == answer["usage_sources"]

    combined = answer["recommendations"][1]
    assert combined["pipeline"] == {
        "template": "drop-metrics",
        "template_version": 1,
        "variables": {"regex": f"{MEMORY}|{QUEUE}", "critical": CRITICAL},
    }
    assert combined["metrics"] == [MEMORY, QUEUE] and combined["labels"] == []
    assert [
        (m["metric"], m["series_before"], m["series_after"]) for m in combined["per_metric"]
    ] == [
        (MEMORY, 31, 0),
        (QUEUE, 3, 1),
    ]
    assert [(s["kind"], s["series_in"], s["series_out"]) for s in combined["waterfall"]] == [
        ("protect", 34, 34),
        ("drop_metrics", 34, 1),
    ]
    savings = combined["savings"]
    assert (savings["total_series_before"], savings["total_series_after"]) == (77, 44)
    assert savings["monthly_after"] == pytest.approx(507.0)
    assert savings["monthly"] == pytest.approx(396.60)  # not 370.60 + 23.60 = 394.20
    assert combined["usage"] == {
        "summary": "none of these 2 metrics is read",
        "query_count": 0,
        "queries": [],
        "warning": None,
    }
    assert combined["targets"] == [{"job": "shop", "instance": world.exporter, "series": 34}]

    memory = answer["recommendations"][2]
    assert memory["usage"] == {
        "summary": "none: no query reads it",
        "query_count": 0,
        "queries": [],
        "warning": None,
    }
    assert memory["pipeline"]["variables"] == {"regex": MEMORY, "critical": CRITICAL}
    if collector == "otelcol":
        verb = answer["recommendations"][3]
        assert verb["pipeline"]["variables"] == {
            "labels": ["verb"],
            "apply_to": REQUESTS,
            "critical": CRITICAL,
        }
        assert verb["usage"]["summary"] == (
            "read by 2 queries; none depends on verb (together they use: pod, status)"
        )


def test_the_same_proposal_keeps_its_id_and_is_stored(world: ShopWorld) -> None:
    with world.client() as client:
        first = recommend(world, client)
        again = recommend(world, client, end=world.end - timedelta(seconds=1), limit=1)
        assert [r["id"] for r in again["recommendations"]] == [first["recommendations"][0]["id"]]
        for listed in first["recommendations"]:
            stored = client.recommendation(listed["id"])
            assert stored["title"] == listed["title"] and stored["pipeline"] == listed["pipeline"]
        with pytest.raises(NotFound, match="No recommendation '0123456789abcdef' is stored"):
            client.recommendation("0123456789abcdef")


def test_nothing_is_proposed_while_a_query_does_not_parse(world: ShopWorld) -> None:
    with world.client() as client:
        answer = recommend(world, client, usage_sources=[*SOURCES, "broken-queries"])
    assert answer["recommendations"] == [] and answer["usage_complete"] is False
    why = (
        "the usage is incomplete: 1 query failed to parse, and an unparsed query could read "
        "anything (first: broken-queries:2: "
    )
    refused = {r["reason"].split(": ", 1)[0]: r["reason"] for r in answer["refusals"]}
    for title in (
        f"Drop metric {MEMORY}",
        f"Drop metric {QUEUE}",
        f"Keep the 5 process values with the most {CPU} on {CPU}, {MEMORY}",
    ):
        assert refused[title].startswith(f"{title}: {why}"), refused
    assert answer["notes"][-1].startswith(f"nothing is proposed: {why}")
    assert answer["usage_warning"] is None and answer["accept_incomplete_usage"] is False


def test_accepted_an_incomplete_usage_recommends_and_warns_everywhere(world: ShopWorld) -> None:
    # the broken query reads memory (cut short: sum(rate(shop_process_memory_bytes[5m])), but
    # nobody can tell: from the queries that parsed, the recommendations are the usual ones
    failed = "1 query of broken-queries@1 failed to parse and could read any metric"
    warning = f"{failed}: this recommendation may break it"
    with_broken = [*SOURCES, "broken-queries"]
    with world.client() as client:
        answer = recommend(world, client, usage_sources=with_broken, accept_incomplete_usage=True)
        assert _ranked(answer) == _expected(PROMETHEUS_AGENT)
        assert answer["usage_complete"] is False and answer["accept_incomplete_usage"] is True
        assert answer["usage_sources"][-1] == "broken-queries@1"
        assert answer["usage_warning"] == (
            f"{failed}: the recommendations were computed from the queries that parsed "
            "(accept_incomplete_usage), and each may break it"
        )
        assert [r["usage"]["warning"] for r in answer["recommendations"]] == [warning] * 4
        memory = answer["recommendations"][2]
        assert client.recommendation(memory["id"])["usage"]["warning"] == warning
        draft = client.experiment_from_recommendation(memory["id"], hosts=["web-1"])
        assert draft["spec"]["description"].startswith(
            f"Computed from an incomplete usage: {warning}. Recommendation {memory['id']} "
            f"(drop_metric): drop metric {MEMORY}. Forecast: 31 -> 0 series"
        )

    env = {"PHOENIX_API_URL": world.url, "PHOENIX_TOKEN": world.operator}
    args = ["recommendations", "--selector", SELECTOR, "--top-k", "5", "--limit", "1"]
    for source in with_broken:
        args += ["--usage-source", source]
    for flags in ([], ["--accept-incomplete-usage"]):
        shown = run_cli("phoenix", [*args, *flags], env)
        assert shown.returncode == 0, shown.stderr
        said = shown.stdout.splitlines()
        assert ("No recommendation." in said) is not bool(flags)
        assert (f"  warning: {answer['usage_warning']}" in said) is bool(flags)
    best = next(row for row in map(str.split, said) if len(row) > 1 and _is_id(row[1]))[1]
    shown = run_cli("phoenix", ["recommendations", "show", best], env)
    assert f"  warning: {warning}" in shown.stdout.splitlines()


def test_a_draft_experiment_of_the_best_one_dry_runs_and_starts(world: ShopWorld) -> None:
    with world.client() as client:
        best = recommend(world, client, limit=1)["recommendations"][0]
        draft = client.experiment_from_recommendation(best["id"], hosts=["web-1"])
        spec = draft["spec"]
        assert draft["state"] == "draft"
        assert spec["collector"] == "prometheus-agent"
        assert [(v["name"], v["role"], v["template"]) for v in spec["variants"]] == [
            ("baseline", "baseline", "baseline"),
            ("recommended", "candidate", "top-k"),
        ]
        assert spec["variants"][1]["variables"] == PIPELINE_TOP_K["variables"]
        assert spec["variants"][1]["template_version"] == 1
        assert spec["sources"] == [
            {
                "name": "shop",
                "kind": "scrape",
                "address": world.exporter,
                "metrics_path": "/metrics",
            }
        ]
        assert spec["critical_selectors"] == CRITICAL
        assert spec["usage_sources"] == ["shop-rules@1", "shop-dashboard@1", "shop-queries@1"]
        assert spec["hosts"] == ["web-1"] and spec["load_profile"] is None
        assert best["id"] in spec["name"] and "saves 617.60 USD a month" in spec["description"]

        dry = client.dry_run(draft["id"])
        assert sorted(plan["variant"] for plan in dry["plans"]) == ["baseline", "recommended"]
        assert [w["message"] for w in dry["warnings"]] == [
            f"No forecast: the series of shop (scrape {world.exporter}) are known only once the "
            "baseline runs; a dry run of the started experiment forecasts from them."
        ]
        started = client.start_experiment(draft["id"])
        assert started["state"] == "scheduled"


def test_bad_requests_name_the_field(world: ShopWorld) -> None:
    with world.client() as client:
        with pytest.raises(ValidationFailed) as refused:
            recommend(world, client, collector="fluent-bit")
        assert [e.path for e in refused.value.errors] == ["query.collector"]
        with pytest.raises(ValidationFailed) as refused:
            recommend(world, client, critical_selectors=[LICENSE, "{job="], selector="{")
        assert sorted(e.path for e in refused.value.errors) == [
            "query.critical_selectors.1",
            "query.selector",
        ]
        with pytest.raises(NotFound, match="No usage source 'nobody' exists"):
            recommend(world, client, usage_sources=["nobody"])
        with pytest.raises(NotFound, match="No price book 'acme' exists"):
            recommend(world, client, price_book="acme")
        best = recommend(world, client, limit=1)["recommendations"][0]
        with pytest.raises(ValidationFailed) as refused:
            client.experiment_from_recommendation(best["id"])
        assert [(e.path, e.message) for e in refused.value.errors] == [
            ("body.host_selector", "give exactly one of 'hosts' (a list) or 'host_selector' "
             "(labels)")
        ]  # fmt: skip
        with pytest.raises(ValidationFailed) as refused:
            client.experiment_from_recommendation(best["id"], hosts=["web-9"])
        assert [e.path for e in refused.value.errors] == ["body.hosts.0"]


def test_the_cli_prints_the_ranked_table_and_makes_a_draft(world: ShopWorld) -> None:
    env = {"PHOENIX_API_URL": world.url, "PHOENIX_TOKEN": world.operator}
    args = ["recommendations", "--selector", SELECTOR, "--since", "1h", "--top-k", "5"]
    args += ["--fleet-hosts", "2000", "--scrape-interval", "60", "--limit", "3"]
    for source in SOURCES:
        args += ["--usage-source", source]
    for selector in CRITICAL:
        args += ["--critical", selector]
    shown = run_cli("phoenix", args, env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    ranked = [row for row in map(str.split, lines) if len(row) > 1 and _is_id(row[1])]
    assert [(row[0], row[2], row[3], row[5], row[6]) for row in ranked] == [
        ("1", "top_k", "62", "12", "617.60"),
        ("2", "drop_unread_metrics", "34", "1", "396.60"),
        ("3", "drop_metric", "31", "0", "370.60"),
    ]
    assert '     protects 2 series: {process="kubelet"}' in lines
    assert "Refused (14):" in lines
    assert f"  - {refusals('prometheus-agent')[0][4]}" in lines
    assert "  (11 more: --limit)" in lines
    assert "(1 more: --limit)" in lines  # the queues' drop

    shown = run_cli("phoenix", ["recommendations", "show", ranked[0][1]], env)
    assert shown.returncode == 0, shown.stderr
    detail = shown.stdout.splitlines()
    assert detail[0] == (
        f"Recommendation {ranked[0][1]} (top_k, prometheus-agent): keep the 5 process values "
        f"with the most {CPU} on {CPU}, {MEMORY}"
    )
    assert "  series: 62 -> 12 (-80.7 %), samples/s 1.03 -> 0.20" in detail
    assert (
        "  saves 617.60 USD a month (7,411.20 a year) under grafana-cloud-pro on 2,000 hosts"
        in (detail)
    )
    assert '  protects 2 series: {process="kubelet"}' in detail
    assert f"  {CPU}: 31 -> 6" in detail

    made = run_cli(
        "phoenix",
        ["recommendations", "experiment", ranked[1][1], "--host", "web-1", "--output", "json"],
        env,
    )
    assert made.returncode == 0, made.stderr
    spec = json.loads(made.stdout)["spec"]
    assert spec["variants"][1]["variables"] == {"regex": f"{MEMORY}|{QUEUE}", "critical": CRITICAL}
    table = run_cli(
        "phoenix", ["recommendations", "experiment", ranked[2][1], "--host", "web-1"], env
    )
    assert table.returncode == 0, table.stderr
    said = table.stdout.splitlines()
    assert said[1:3] == [
        "  baseline against drop-metrics on prometheus-agent",
        f"  sources: shop ({world.exporter})",
    ]
    assert said[3].startswith("  next: phoenix experiment dry-run ")


def test_the_series_come_from_prometheus_with_their_latest_values(world: ShopWorld) -> None:
    window = Window(parse_selector(SELECTOR), world.start, world.end)
    with PrometheusReader(world.prometheus, timeout=10) as reader:
        series = PrometheusSeries(reader, window).series([QUEUE, CPU])
        assert len(series) == 34
        kubelet = series[(series["__name__"] == CPU) & (series["process"] == "kubelet")]
        assert kubelet[["pid", "job", "__value__"]].to_dict("records") == [
            {"pid": "1", "job": "shop", "__value__": 0.5}
        ]
        assert sorted(series.loc[series["__name__"] == QUEUE, "queue"]) == [
            "emails",
            "orders",
            "payments",
        ]
        assert set(series.loc[series["__name__"] == QUEUE, "pid"]) == {""}  # lacks it
        with pytest.raises(MetricsUnavailable, match=r"refused query 'rate\(': HTTP .*parse error"):
            reader.instant_series("rate(")
        with pytest.raises(MetricsUnavailable, match="not an instant vector"):
            reader.instant_series(f"{QUEUE}[1m]")
