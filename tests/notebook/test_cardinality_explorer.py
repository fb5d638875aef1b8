"""``notebooks/cardinality-explorer.ipynb`` against a real Prometheus scraping the shop
(``support.shop``: 77 known series) and a real Phoenix API. Given the shop's rule file,
dashboard and query list, an operator's token and a host to draft on, the notebook uploads the
files, and shows the inventory, the usage of every metric, the recommendations with their
waterfalls, the refusals, and a draft experiment of the best one. Every number below is worked
out by hand from the shop (tests/e2e/test_recommendations.py derives the same recommendations
through the API), and every table also equals the API's own answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from papermill import PapermillExecutionError

from support.notebooks import (
    NOTEBOOKS,
    PLOT_MIMETYPES,
    Executed,
    cell,
    close,
    execute,
    failed_cells,
    mimetypes,
    report_seconds,
    tables,
)
from support.shop import (
    BUILD,
    CPU,
    FIXTURES,
    LICENSE,
    MEMORY,
    QUEUE,
    REQUESTS,
    SELECTOR,
    SESSIONS,
    ShopWorld,
    grafana,
    shop_world,
)

NOTEBOOK = NOTEBOOKS / "cardinality-explorer.ipynb"
CRITICAL = ['shop_queue_depth{queue="orders"}', LICENSE]
FILES = {
    "rules_files": [str(FIXTURES / "shop-rules.yaml")],
    "dashboard_files": [str(FIXTURES / "shop-dashboard.json")],
    "query_files": [str(FIXTURES / "shop-queries.txt")],
}
SOURCES = ["shop-rules@1", "shop-dashboard@1", "shop-queries@1"]  # each file's first upload


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopWorld]:
    """The shop, with no usage source stored: the notebook uploads them."""
    with shop_world(tmp_path_factory.mktemp("api")) as world:
        yield world


def _parameters(shop: ShopWorld, **changes: Any) -> dict[str, Any]:
    return {
        "api_url": shop.url,
        "token": shop.operator,
        "selector": SELECTOR,
        "start": shop.start.isoformat(),
        "end": shop.end.isoformat(),
        **FILES,
        "critical_selectors": CRITICAL,
        "price_book": "grafana-cloud-pro",
        "fleet_hosts": 2000,
        "scrape_interval_seconds": 60.0,
        "top_k": 5,
        "draft_hosts": ["web-1"],
    } | changes


@pytest.fixture(scope="module")
def run(
    shop: ShopWorld, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Executed]:
    """The notebook on the shop, grafana-cloud-pro on 2,000 hosts at a sample a minute."""
    output = tmp_path_factory.mktemp("notebook") / NOTEBOOK.name
    executed = execute(NOTEBOOK, output, **_parameters(shop))
    what = f"{NOTEBOOK.name}, the shop's 77 series, three usage files, a draft"
    print(f"\n{what}: executed in {executed.seconds:.1f} s")
    report_seconds(request.config, executed, what)
    yield executed


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "index"} for row in frame.to_dict("records")]


def test_the_inventory_is_the_shops(shop: ShopWorld, run: Executed) -> None:
    (totals,) = tables(cell(run.notebook, "inventory"))
    # Prometheus first scraped the shop seconds before the window's end: all 77 are created
    assert _records(totals[["series", "created", "ended", "metrics", "window (s)"]]) == [
        {"series": 77, "created": 77, "ended": 0, "metrics": 7, "window (s)": 300.0}
    ]
    metrics, labels, pairs = tables(cell(run.notebook, "top-metrics"))
    assert dict(zip(metrics["metric"], metrics["series"], strict=True)) == {
        CPU: 31,  # kubelet and proc-00 … proc-29
        MEMORY: 31,
        REQUESTS: 8,  # 2 pods × 2 statuses × 2 verbs
        QUEUE: 3,
        SESSIONS: 2,
        BUILD: 1,
        LICENSE: 1,
    }
    assert list(metrics["created"]) == list(metrics["series"])
    assert len(labels) == len(pairs) == 20  # limit
    assert _records(labels.head(10)[["metric", "label", "values"]]) == [
        {"metric": CPU, "label": "pid", "values": 31},
        {"metric": CPU, "label": "process", "values": 31},
        {"metric": MEMORY, "label": "pid", "values": 31},
        {"metric": MEMORY, "label": "process", "values": 31},
        {"metric": QUEUE, "label": "queue", "values": 3},
        {"metric": REQUESTS, "label": "pod", "values": 2},
        {"metric": REQUESTS, "label": "status", "values": 2},
        {"metric": REQUESTS, "label": "verb", "values": 2},
        {"metric": SESSIONS, "label": "node", "values": 2},
        {"metric": SESSIONS, "label": "pod", "values": 2},
    ]
    assert _records(pairs.head(4)[["label", "value", "series"]]) == [
        {"label": "instance", "value": shop.exporter, "series": 77},
        {"label": "job", "value": "shop", "series": 77},
        {"label": "pod", "value": "web-1", "series": 5},  # 4 requests and 1 sessions
        {"label": "pod", "value": "web-2", "series": 5},
    ]
    with shop.client() as client:
        api = client.cardinality(SELECTOR, start=shop.start, end=shop.end, limit=20)
    for shown, answered in ((metrics, "metrics"), (labels, "labels"), (pairs, "pairs")):
        assert _records(shown) == api[answered], answered


def test_the_usage_files_are_uploaded_and_each_metric_says_who_reads_it(
    shop: ShopWorld, run: Executed
) -> None:
    read, usage = tables(cell(run.notebook, "usage"))
    assert _records(read) == [
        {"source": "shop-rules@1", "kind": "rules", "queries": 2, "read": 2,
         "failed to parse": 0, "skipped": 0},
        {"source": "shop-dashboard@1", "kind": "dashboard", "queries": 2, "read": 2,
         "failed to parse": 0, "skipped": 0},
        {"source": "shop-queries@1", "kind": "queries", "queries": 1, "read": 1,
         "failed to parse": 0, "skipped": 0},
    ]  # fmt: skip
    unread = "(the metric is unread)"
    assert _records(usage) == [
        # KubeletBusy compares the rate of every cpu series: all labels, naming process
        {"metric": CPU, "series": 31, "queries": 1, "sources": "shop-rules@1",
         "labels read": "all labels (named: process)", "labels unread": ""},
        {"metric": MEMORY, "series": 31, "queries": 0, "sources": "", "labels read": "",
         "labels unread": unread},
        # HighErrorRate: sum by (status); the panel 'Requests by pod': sum by (pod)
        {"metric": REQUESTS, "series": 8, "queries": 2,
         "sources": "shop-dashboard@1, shop-rules@1", "labels read": "pod, status",
         "labels unread": "verb"},
        {"metric": QUEUE, "series": 3, "queries": 0, "sources": "", "labels read": "",
         "labels unread": unread},
        # the panel 'Sessions': sum by (pod)
        {"metric": SESSIONS, "series": 2, "queries": 1, "sources": "shop-dashboard@1",
         "labels read": "pod", "labels unread": "node"},
        # the runbook's count({__name__=~"shop_build_.*"}): a count depends on every label
        {"metric": BUILD, "series": 1, "queries": 1, "sources": "shop-queries@1",
         "labels read": "all labels", "labels unread": ""},
        {"metric": LICENSE, "series": 1, "queries": 0, "sources": "", "labels read": "",
         "labels unread": unread},
    ]  # fmt: skip
    with shop.client() as client:
        stored = {s["name"]: s["latest"]["version"] for s in client.usage_sources()}
    assert stored == {"shop-rules": 1, "shop-dashboard": 1, "shop-queries": 1}


def test_the_recommendations_are_the_ones_worked_out_by_hand(
    shop: ShopWorld, run: Executed
) -> None:
    (ranked,) = tables(cell(run.notebook, "recommendations"))
    shown = [
        (r["kind"], r["series before"], r["series after"], round(r["savings (USD/month)"], 2))
        for r in _records(ranked)
    ]
    assert shown == [
        # top 5 processes and kubelet (KubeletBusy names it) on cpu and memory: 62 -> 12
        ("top_k", 62, 12, round(grafana(77) - grafana(27), 2)),  # 903.60 - 286.00
        # the two drops below at once, priced on the whole bill: 903.60 - 507.00
        ("drop_unread_metrics", 34, 1, round(grafana(77) - grafana(44), 2)),
        ("drop_metric", 31, 0, round(grafana(77) - grafana(46), 2)),  # memory: nobody reads it
        ("drop_metric", 3, 1, round(grafana(77) - grafana(75), 2)),  # queues but the orders'
    ]
    assert [saved for *_, saved in shown] == [617.60, 396.60, 370.60, 23.60]
    assert list(ranked["protects"]) == [
        '{process="kubelet"} (2 series)',
        'shop_queue_depth{queue="orders"} (1 series)',
        "",
        'shop_queue_depth{queue="orders"} (1 series)',
    ]
    with shop.client() as client:
        api = client.recommendations(
            SELECTOR,
            start=shop.start,
            end=shop.end,
            usage_sources=SOURCES,
            critical_selectors=CRITICAL,
            price_book="grafana-cloud-pro",
            fleet_hosts=2000,
            scrape_interval_seconds=60,
            top_k=5,
        )
    for row, answered in zip(_records(ranked), api["recommendations"], strict=True):
        assert (row["id"], row["title"], row["usage"]) == (
            answered["id"],
            answered["title"],
            answered["usage"]["summary"],
        )
        assert close(row["savings (USD/year)"], answered["savings"]["yearly"])
        assert close(row["of the bill (%)"], answered["savings"]["percent"])
    (refused,) = tables(cell(run.notebook, "refusals"))
    assert len(refused) == 14  # tests/e2e/test_recommendations.py lists each on prometheus-agent
    assert [(r["kind"], r["labels"], r["series"], r["reason"]) for r in _records(refused)] == [
        (r["kind"], ", ".join(r["labels"]), r["series"], r["reason"]) for r in api["refusals"]
    ]
    assert refused["reason"].iloc[0] == (
        f"drop label pid of {CPU}: shop-rules@1 › group 'shop' › alert 'KubeletBusy' uses it: "
        'rate(shop_process_cpu_seconds_total{process="kubelet"}[5m]) > 0.5'
    )


def test_the_plots_are_there(run: Executed) -> None:
    for tag in ("plot-inventory", "waterfalls"):
        assert mimetypes(cell(run.notebook, tag)) >= PLOT_MIMETYPES, tag
    assert "application/vnd.holoviews_load.v0+json" in mimetypes(cell(run.notebook, "connect"))


def test_a_draft_of_the_best_one_is_created_and_dry_runs(shop: ShopWorld, run: Executed) -> None:
    (variants,) = tables(cell(run.notebook, "draft"))
    assert list(zip(variants["variant"], variants["template"], strict=True)) == [
        ("baseline", "baseline"),
        ("recommended", "top-k"),
    ]
    (ranked,) = tables(cell(run.notebook, "recommendations"))
    with shop.client() as client:
        (draft,) = client.list_experiments(state="draft")
        record = client.experiment(draft["id"])
        best = client.recommendation(ranked["id"].iloc[0])
        dry = client.dry_run(draft["id"])
    assert record["state"] == "draft"
    assert record["spec"]["variants"][1]["variables"] == best["pipeline"]["variables"]
    assert best["title"] in record["spec"]["name"]
    assert record["spec"]["usage_sources"] == SOURCES
    assert record["spec"]["critical_selectors"] == CRITICAL
    assert record["spec"]["hosts"] == ["web-1"]
    assert sorted(plan["variant"] for plan in dry["plans"]) == ["baseline", "recommended"]


def test_a_file_that_does_not_parse_stops_every_recommendation(
    shop: ShopWorld, tmp_path: Path
) -> None:
    broken = _parameters(
        shop,
        query_files=[*FILES["query_files"], str(FIXTURES / "broken-queries.txt")],
        draft_hosts=[],
    )
    run = execute(NOTEBOOK, tmp_path / NOTEBOOK.name, **broken)
    read, _ = tables(cell(run.notebook, "usage"))
    assert _records(read)[-1]["failed to parse"] > 0
    assert "The usage is incomplete" in _text(run, "usage")
    (ranked,) = tables(cell(run.notebook, "recommendations"))
    assert ranked.empty
    assert "No recommendation, so no draft." in _text(run, "draft")


def test_a_viewer_cannot_upload_and_the_usage_cell_says_so(shop: ShopWorld, tmp_path: Path) -> None:
    output = tmp_path / NOTEBOOK.name
    with pytest.raises(PapermillExecutionError) as stopped:
        execute(NOTEBOOK, output, **_parameters(shop, token=shop.viewer))
    assert stopped.value.ename == "Forbidden"
    assert failed_cells(output) == ["usage"]


def _text(run: Executed, tag: str) -> str:
    return "\n".join(
        "".join(output.get("data", {}).get("text/markdown", ""))
        for output in cell(run.notebook, tag).get("outputs", [])
    )
