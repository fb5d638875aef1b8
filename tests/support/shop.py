"""The shop the recommendation tests work out by hand: its 77 series (what an exporter serves)
and its usage files (tests/fixtures/recommendations/). tests/e2e/test_recommendations.py says
what each series and query is, and what Phoenix must recommend and refuse for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "BUILD",
    "CPU",
    "FIXTURES",
    "LICENSE",
    "MEMORY",
    "PROCESSES",
    "QUEUE",
    "REQUESTS",
    "SESSIONS",
    "shop_series",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "recommendations"
REQUESTS, SESSIONS = "shop_requests_total", "shop_sessions"
CPU, MEMORY = "shop_process_cpu_seconds_total", "shop_process_memory_bytes"
QUEUE, BUILD, LICENSE = "shop_queue_depth", "shop_build_info", "shop_license_expiry_seconds"
PROCESSES = [("kubelet", "1", 0.5)] + [
    (f"proc-{i:02d}", str(1000 + i), 100.0 - i) for i in range(30)
]
"""(process, pid, CPU seconds): kubelet is nearly idle, proc-00 the busiest."""


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
