"""The shop the recommendation tests work out by hand: its 77 series (what an exporter serves)
and its usage files (tests/fixtures/recommendations/). tests/e2e/test_recommendations.py says
what each series and query is, and what Phoenix must recommend and refuse for them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from phoenix_core.client import PhoenixClient
from support.control_plane import cli_token, online_host, receiving_at
from support.exporter import exporter
from support.processes import api_server
from support.prometheus import prometheus_server
from support.waiting import until

__all__ = [
    "BUILD",
    "CPU",
    "FIXTURES",
    "LICENSE",
    "MEMORY",
    "PROCESSES",
    "QUEUE",
    "REQUESTS",
    "SELECTOR",
    "SESSIONS",
    "USAGE_FILES",
    "grafana",
    "ShopWorld",
    "shop_series",
    "shop_world",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "recommendations"
REQUESTS, SESSIONS = "shop_requests_total", "shop_sessions"
CPU, MEMORY = "shop_process_cpu_seconds_total", "shop_process_memory_bytes"
QUEUE, BUILD, LICENSE = "shop_queue_depth", "shop_build_info", "shop_license_expiry_seconds"
PROCESSES = [("kubelet", "1", 0.5)] + [
    (f"proc-{i:02d}", str(1000 + i), 100.0 - i) for i in range(30)
]
"""(process, pid, CPU seconds): kubelet is nearly idle, proc-00 the busiest."""
SELECTOR = '{job="shop", __name__=~"shop_.+"}'
"""The shop's 77 series as the receiving Prometheus has them (job ``shop``)."""
USAGE_FILES = (
    ("shop-rules", "rules", "shop-rules.yaml"),
    ("shop-dashboard", "dashboard", "shop-dashboard.json"),
    ("shop-queries", "queries", "shop-queries.txt"),
    ("broken-queries", "queries", "broken-queries.txt"),
)
"""(usage source, kind, file in FIXTURES): what reads the shop, and a file that fails to parse."""


def shop_series() -> pd.DataFrame:
    """The shop's series as the exporter serves them (``__name__``, labels, ``__value__``)."""
    rows: list[dict[str, Any]] = []
    for pod, node in (("web-1", "node-a"), ("web-2", "node-b")):
        for status in ("200", "500"):
            for verb in ("GET", "POST"):
                rows.append({"__name__": REQUESTS, "pod": pod, "status": status, "verb": verb})
        rows.append({"__name__": SESSIONS, "pod": pod, "node": node, "__value__": 3.0})
    for process, pid, cpu in PROCESSES:
        rows.append({"__name__": CPU, "process": process, "pid": pid, "__value__": cpu})
        rows.append({"__name__": MEMORY, "process": process, "pid": pid, "__value__": 1e6})
    rows += [{"__name__": QUEUE, "queue": q} for q in ("orders", "payments", "emails")]
    rows += [{"__name__": BUILD, "version": "1.2.0"}, {"__name__": LICENSE}]
    frame = pd.DataFrame(rows)
    frame["__value__"] = frame["__value__"].fillna(1.0)
    return frame.fillna("")


def grafana(series: int) -> float:
    """grafana-cloud-pro's monthly bill for the shop's ``series`` on 2,000 hosts, by its tiers
    worked out by hand: the first 10,000 series free, then $6.50, $5.90, $5.50 per 1,000."""
    billed = series * 2000
    tiers = [(10_000, 0.0), (100_000, 6.50), (200_000, 5.90), (float("inf"), 5.50)]
    cost, lower = 0.0, 0
    for upper, price in tiers:
        cost += max(0, min(billed, upper) - lower) * price / 1000
        lower = upper
    return cost


@dataclass(frozen=True)
class ShopWorld:
    """The shop scraped by a real Prometheus, and a Phoenix API (no controller) receiving at it
    with an online host ``web-1``; ``[start, end]``: five minutes ending after the first scrape."""

    url: str
    prometheus: str
    operator: str
    """An operator's token."""
    viewer: str
    """A viewer's token."""
    exporter: str
    start: datetime
    end: datetime

    def client(self) -> PhoenixClient:
        return PhoenixClient(self.url, self.operator)


@contextmanager
def shop_world(
    folder: Path, usage_files: Sequence[tuple[str, str, str]] = ()
) -> Iterator[ShopWorld]:
    """Start everything (the API's data in ``folder``), upload ``usage_files`` (see
    ``USAGE_FILES``), stop everything on exit."""
    with (
        exporter(shop_series()) as served,
        prometheus_server(scrape={"shop": served.address}) as prometheus,
    ):
        count = f"count({SELECTOR})"
        until(lambda: [v for _, v in prometheus.query(count)] == [77.0], "the shop is scraped")
        time.sleep(1)
        now = datetime.now(UTC)
        end = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what Prometheus resolves
        time.sleep(0.1)  # end is in the past for Prometheus too
        env = {
            "PHOENIX_DATA_DIR": str(folder),
            "PHOENIX_RUN_CONTROLLER": "false",
            **receiving_at(prometheus),
        }
        operator = cli_token(env, "token", "create", "olga", "--role", "operator")
        viewer = cli_token(env, "token", "create", "vera", "--role", "viewer")
        enrolment = cli_token(env, "enrolment-token", "create", "rack")
        with api_server(env) as (url, _), PhoenixClient(url, operator) as client:
            for name, kind, file in usage_files:
                client.add_usage_source(name, kind, (FIXTURES / file).read_text())
            online_host(url, enrolment, "web-1")
            start = end - timedelta(minutes=5)
            yield ShopWorld(url, prometheus.url, operator, viewer, served.address, start, end)
