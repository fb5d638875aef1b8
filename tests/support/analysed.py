"""One experiment run and analysed by a real Phoenix, for the tests that read its results
through the API (the notebooks').

``phoenix api serve`` (with its controller) on a SQLite database, ``phoenix-agent run`` as host
``web-1``, a receiving Prometheus, and an exporter serving a known series set
(``support.world``); an A/B/n experiment runs through them to ``completed``: real collectors,
real measurements, the controller's own verdict. About a minute.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import upgrade
from support.world import World, until

__all__ = ["VARIANTS", "Analysed", "analysed_experiment", "shop"]

SCRAPE = 2.0
DURATION = 36.0  # (36 s - the 8 s lookback) / 2 s + 1 = 15 points a side, at least the 11 needed
SERVICES, ENDPOINTS, CODES = 10, 5, ("200", "404", "500", "503")

VARIANTS = [
    {"name": "baseline", "role": "baseline", "template": "baseline"},
    {  # the 50 requests series with code 200 and the 10 latency series: 60 of 210, -71 %
        "name": "ok-codes",
        "role": "candidate",
        "template": "keep-series",
        "variables": {"label": "code", "regex": "2..", "apply_to": "shop_requests_total"},
    },
    {  # the 200 requests series: -4.8 %, short of the 20 % the series gate requires
        "name": "nolatency",
        "role": "candidate",
        "template": "drop-metrics",
        "variables": {"regex": "shop_latency_seconds"},
    },
]


def shop() -> pd.DataFrame:
    """210 series: requests by service, endpoint and code (200), latency by service (10)."""
    rows = [
        {
            "__name__": "shop_requests_total",
            "service": f"svc-{s}",
            "endpoint": f"/e{e}",
            "code": code,
            "__value__": float(s * 100 + e * 10 + c),
        }
        for s in range(SERVICES)
        for e in range(ENDPOINTS)
        for c, code in enumerate(CODES)
    ]
    rows += [
        {
            "__name__": "shop_latency_seconds",
            "service": f"svc-{s}",
            "endpoint": "",
            "code": "",
            "__value__": 0.05 + s / 100,
        }
        for s in range(SERVICES)
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Analysed:
    world: World
    experiment: str
    viewer_token: str
    """A viewer's token: the least a reader of the results needs."""


def analysed_experiment(stack: ExitStack, folder: Path) -> Analysed:
    """Start everything in ``folder`` (stopped when ``stack`` closes), run the experiment to
    ``completed``."""
    database = f"sqlite:///{folder / 'phoenix.db'}"
    engine = make_engine(database)
    upgrade(engine)
    engine.dispose()
    world = World(stack, database, folder, shop(), scrape_interval_seconds=SCRAPE)
    viewer = world.cli("token", "create", "vera", "--role", "viewer")
    experiment = world.start_experiment(
        name="shop: keep 2xx codes, or drop latency",
        variants=VARIANTS,
        sources=[{"name": "shop", "kind": "scrape", "address": world.exporter}],
        warmup_seconds=1,
        duration_seconds=DURATION,
    )
    ended = ("completed", "failed", "stopped")
    until(lambda: world.state_of(experiment) in ended, "the experiment ended", timeout=240)
    record = world.operator.get(f"/api/v1/experiments/{experiment}").json()
    assert record["state"] == "completed", record["failure_reason"]
    return Analysed(world, experiment, viewer)
