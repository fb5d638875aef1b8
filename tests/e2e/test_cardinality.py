"""The inventory against a real Prometheus scraping a known set of series that changes once
(some series end, some begin): every number equals the count worked out by hand below, by
every way the inventory can count it, through the library, the REST API and the CLI.

The shop, as scraped (job "shop"; every series also has ``instance``, the exporter):

    before the change                        after it
    shop_requests_total{verb, status}:       the same 6
      GET 200, GET 404, GET 500,
      POST 200, POST 500, PUT 200
    shop_process_cpu_seconds_total{pid}:     pids 1-7, 11, 12 (8-10 gone, 11 and 12 new)
      pids 1-10
                                             shop_process_memory_bytes{pid}: pids 1-3 (new)
                                             shop_queue_depth{queue='orders "eu"'} (new)

The window starts while the first set is served (after a scrape of it) and ends after the
second set was scraped: 22 series in it, 6 created (cpu 11, 12; memory 1-3; the queue), 3
ended (cpu 8-10: Prometheus marks them stale at the first scrape without them). The memory
series have the same labels as cpu series present at the start: only matching on the metric
name too tells them apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest

from phoenix_core.client import PhoenixClient
from phoenix_core.metrics.cardinality import take_inventory
from phoenix_core.metrics.inventory import Inventory
from phoenix_core.metrics.reader import PrometheusReader
from phoenix_core.pipelines.selectors import parse_selector
from support.control_plane import cli_token
from support.exporter import exporter
from support.processes import api_server, run_cli
from support.prometheus import prometheus_server
from support.waiting import until

SHOP = '{job="shop", __name__=~"shop_.+"}'
CPU, MEMORY = "shop_process_cpu_seconds_total", "shop_process_memory_bytes"
QUEUE, REQUESTS = "shop_queue_depth", "shop_requests_total"
EU = 'orders "eu"'
REQUEST_LABELS = [
    ("GET", 200),
    ("GET", 404),
    ("GET", 500),
    ("POST", 200),
    ("POST", 500),
    ("PUT", 200),
]


def _before() -> pd.DataFrame:
    rows = [{"__name__": REQUESTS, "verb": v, "status": str(s)} for v, s in REQUEST_LABELS]
    rows += [{"__name__": CPU, "pid": str(pid)} for pid in range(1, 11)]
    return pd.DataFrame(rows).fillna("").assign(__value__=1.0)


def _after() -> pd.DataFrame:
    rows = [{"__name__": REQUESTS, "verb": v, "status": str(s)} for v, s in REQUEST_LABELS]
    rows += [{"__name__": CPU, "pid": str(pid)} for pid in [1, 2, 3, 4, 5, 6, 7, 11, 12]]
    rows += [{"__name__": MEMORY, "pid": str(pid)} for pid in [1, 2, 3]]
    rows += [{"__name__": QUEUE, "queue": EU}]
    return pd.DataFrame(rows).fillna("").assign(__value__=1.0)


# By hand, for SHOP over the window: (metric, series, created, ended), most series first.
METRICS = [(CPU, 12, 2, 3), (REQUESTS, 6, 0, 0), (MEMORY, 3, 3, 0), (QUEUE, 1, 1, 0)]
# (metric, label, distinct values), most values first, then by metric and label.
LABELS = [
    (CPU, "pid", 12),
    (MEMORY, "pid", 3),
    (REQUESTS, "status", 3),
    (REQUESTS, "verb", 3),
    (CPU, "instance", 1),
    (CPU, "job", 1),
    (MEMORY, "instance", 1),
    (MEMORY, "job", 1),
    (QUEUE, "instance", 1),
    (QUEUE, "job", 1),
    (QUEUE, "queue", 1),
    (REQUESTS, "instance", 1),
    (REQUESTS, "job", 1),
]


def pairs(address: str) -> list[tuple[str, str, int]]:
    """(label, value, series), most series first, then by label and value."""
    return [
        ("instance", address, 22),
        ("job", "shop", 22),
        ("status", "200", 3),
        ("verb", "GET", 3),
        ("pid", "1", 2),  # cpu and memory
        ("pid", "2", 2),
        ("pid", "3", 2),
        ("status", "500", 2),
        ("verb", "POST", 2),
        *[("pid", pid, 1) for pid in ["10", "11", "12", "4", "5", "6", "7", "8", "9"]],
        ("queue", EU, 1),
        ("status", "404", 1),
        ("verb", "PUT", 1),
    ]


@dataclass(frozen=True)
class Shop:
    url: str
    address: str
    start: datetime
    end: datetime

    def inventory(
        self,
        selector: str = SHOP,
        limit: int = 100,
        reader: PrometheusReader | None = None,
        **kw: int,
    ) -> Inventory:
        with reader or PrometheusReader(self.url, timeout=10) as store:
            return take_inventory(
                store, parse_selector(selector), self.start, self.end, limit, **kw
            )


def _now() -> datetime:
    """Now, in whole milliseconds (what the inventory resolves)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _count(reader: PrometheusReader, query: str) -> float:
    frame = reader.instant(query)
    return float(frame["value"].iloc[0]) if len(frame) else 0.0


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with (
        exporter(_before()) as served,
        prometheus_server(
            remote_write_receiver=False, scrape={"shop": served.address}
        ) as prometheus,
        PrometheusReader(prometheus.url, timeout=5) as reader,
    ):
        until(lambda: _count(reader, f"count({SHOP})") == 16, "the first set is scraped")
        start = _now()
        scraped = 'timestamp(up{job="shop"})'
        until(lambda: _count(reader, scraped) > start.timestamp(), "a scrape after the start")
        served.serve(_after())
        until(lambda: _count(reader, f"count({SHOP})") == 19, "the second set is scraped")
        end = _now()
        time.sleep(0.1)  # end is in the past for Prometheus too
        yield Shop(prometheus.url, served.address, start, end)


def _rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(frame.itertuples(index=False, name=None))


def _assert_by_hand(inventory: Inventory, shop: Shop) -> None:
    assert (inventory.total_series, inventory.created, inventory.ended) == (22, 6, 3)
    assert (inventory.metric_count, inventory.label_count) == (4, 13)
    assert _rows(inventory.metrics) == METRICS
    assert _rows(inventory.labels) == LABELS
    assert _rows(inventory.pairs) == pairs(shop.address)
    assert (inventory.selector, inventory.start, inventory.end) == (SHOP, shop.start, shop.end)


def _purposes(inventory: Inventory) -> list[str]:
    return [query.purpose for query in inventory.queries]


def test_every_number_is_the_count_by_hand(shop: Shop) -> None:
    inventory = shop.inventory()
    _assert_by_hand(inventory, shop)
    grouped = "series per metric; values and pairs of instance, job, queue, status, verb, pid"
    assert grouped in _purposes(inventory)  # one pass counts every label of this small shop
    assert not [p for p in _purposes(inventory) if p.startswith(("values of", "top pairs"))]
    assert inventory.window_seconds == (shop.end - shop.start).total_seconds()


def test_labels_counted_one_by_one_give_the_same_numbers(shop: Shop) -> None:
    inventory = shop.inventory(group_rows=0)
    _assert_by_hand(inventory, shop)
    assert "series per metric; values and pairs of no label" in _purposes(inventory)
    assert "values of pid per metric, series per value" in _purposes(inventory)
    assert "top pairs of pid" in _purposes(inventory)


def test_a_varied_labels_pairs_are_asked_for_only_when_one_can_place(shop: Shop) -> None:
    # pid alone would answer 26 rows (12 values on cpu and on memory): over 20, counted alone.
    # No pid is on more than 2 series (one per metric); the 4th biggest pair has 3, the 6th 2.
    top4 = shop.inventory(limit=4, group_rows=20)
    assert "values of pid per metric, series per value" in _purposes(top4)
    assert "top pairs of pid" not in _purposes(top4)
    assert _rows(top4.pairs) == pairs(shop.address)[:4]
    assert _rows(top4.labels) == LABELS[:4]
    assert _rows(top4.metrics) == METRICS[:4]

    top6 = shop.inventory(limit=6, group_rows=20)  # pid=1 and pid=2 tie with the 6th: asked
    assert _rows(top6.pairs) == pairs(shop.address)[:6]
    assert "top pairs of pid" in _purposes(top6)
    assert (top6.total_series, top6.created, top6.ended, top6.label_count) == (22, 6, 3, 13)


class _StoreSaying(PrometheusReader):
    """The real Prometheus, but telling the inventory another lookback (or none), which
    decides how churn is counted; the numbers still come from the store."""

    def __init__(self, url: str, flags: dict[str, str] | None) -> None:
        super().__init__(url, timeout=10)
        self.said = flags

    def flags(self) -> dict[str, str] | None:
        return self.said


@pytest.mark.parametrize(
    ("flags", "ended_by"),
    [
        ({"query.lookback-delta": "1s"}, "present at end (ended: the others)"),
        (None, "ended: in the window, not present at end"),
    ],
    ids=["window-longer-than-lookback", "lookback-unknown"],
)
def test_churn_is_the_same_by_every_formula(
    shop: Shop, flags: dict[str, str] | None, ended_by: str
) -> None:
    inventory = shop.inventory(reader=_StoreSaying(shop.url, flags))
    _assert_by_hand(inventory, shop)
    assert ended_by in _purposes(inventory)
    text = {q.purpose: q.query for q in inventory.queries}
    created = text["created: in the window, not present at start"]
    assert ("label_replace" in created) == (flags is None)


def test_the_selector_narrows_every_number(shop: Shop) -> None:
    queue = shop.inventory(f'{QUEUE}{{queue="orders \\"eu\\""}}')
    assert (queue.total_series, queue.created, queue.ended) == (1, 1, 0)
    assert _rows(queue.metrics) == [(QUEUE, 1, 1, 0)]
    assert _rows(queue.pairs) == [
        ("instance", shop.address, 1),
        ("job", "shop", 1),
        ("queue", EU, 1),
    ]

    nothing = shop.inventory('{job="nobody"}')
    assert (nothing.total_series, nothing.created, nothing.ended, nothing.metric_count) == (0,) * 4
    assert nothing.metrics.empty and nothing.labels.empty and nothing.pairs.empty

    requests = shop.inventory(f'{REQUESTS}{{verb!="PUT"}}')
    assert _rows(requests.metrics) == [(REQUESTS, 5, 0, 0)]
    assert _rows(requests.labels) == [
        (REQUESTS, "status", 3),
        (REQUESTS, "verb", 2),
        (REQUESTS, "instance", 1),
        (REQUESTS, "job", 1),
    ]
    assert _rows(requests.pairs) == [
        ("instance", shop.address, 5),
        ("job", "shop", 5),
        ("verb", "GET", 3),
        ("status", "200", 2),
        ("status", "500", 2),
        ("verb", "POST", 2),
        ("status", "404", 1),
    ]


def test_the_rest_api_and_the_cli_answer_the_same(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {
        "PHOENIX_DATA_DIR": str(tmp_path_factory.mktemp("api")),
        "PHOENIX_RUN_CONTROLLER": "false",
        "PHOENIX_CONTROLLER_PROMETHEUS_URL": shop.url,
    }
    token = cli_token(env, "token", "create", "vera", "--role", "viewer")
    with api_server(env) as (url, _), PhoenixClient(url, token) as client:
        answer = client.cardinality(SHOP, start=shop.start, end=shop.end, limit=100)
        _assert_by_hand(Inventory.from_answer(answer), shop)
        assert answer["window_seconds"] == (shop.end - shop.start).total_seconds()

        shown = run_cli(
            "phoenix",
            ["cardinality", "--selector", SHOP, "--since", "1h", "--limit", "2"],
            {"PHOENIX_API_URL": url, "PHOENIX_TOKEN": token},
        )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    # over the last hour every series began in it (this Prometheus is younger)
    assert "  22 series in 4 metrics; 22 created and 3 ended in the window" in lines
    assert any(line.split() == [CPU, "12", "12", "3"] for line in lines), shown.stdout
    assert any(line.split() == [CPU, "pid", "12"] for line in lines), shown.stdout
    assert "(2 more metrics: --limit)" in lines
    assert any(line.split() == ['job="shop"', "22"] for line in lines), shown.stdout
