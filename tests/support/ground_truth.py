"""A ground-truth source for end-to-end experiments, and what each candidate must deliver.

The source is an exactly known series set: several label dimensions (a ``host`` label among
them, as real exporters have), a distinct value per series, and more series than one
remote-write batch of either collector (Prometheus sends at most 2,000 samples a request; the
OpenTelemetry Collector's batch processor 8,192 datapoints). What each candidate must deliver is
computed here from the source's own data, step by step as the steps are documented, and never
by Phoenix's forecast simulator.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

__all__ = [
    "CRITICAL_SELECTOR",
    "REQUESTS",
    "LATENCY",
    "Series",
    "candidates",
    "critical_series",
    "expected",
    "source",
]

REQUESTS = "truth_requests_total"
LATENCY = "truth_latency_seconds"
HOSTS = [f"db-{i}" for i in range(8)]
SERVICES = [f"svc-{i:02d}" for i in range(15)]
ENDPOINTS = [f"/api/e{i:02d}" for i in range(16)]
CODES = ["200", "201", "404", "500", "503"]
CRITICAL_SERVICE, CRITICAL_CODE = "svc-14", "503"
CRITICAL_SELECTOR = f'{REQUESTS}{{service="{CRITICAL_SERVICE}",code="{CRITICAL_CODE}"}}'
THRESHOLD = 400.0
TOP_K = 5

Series = frozenset[tuple[str, str]]


def _requests(host: int, service: int, endpoint: int, code: int) -> float:
    """Distinct per series; the later services get less traffic, so top-k has a clear answer,
    and the critical service's series fall below the filter's threshold."""
    base = (1 + host) * 7.0 + (16 - endpoint) * 3.0 + (5 - code) * 11.0
    return round(base * (15 - service) + host * 0.001 + endpoint * 0.01 + code * 0.1, 3)


def source() -> pd.DataFrame:
    """9,720 series: requests by host, service, endpoint and code; latency by host, service."""
    rows: list[dict[str, Any]] = []
    for h, host in enumerate(HOSTS):
        for s, service in enumerate(SERVICES):
            for e, endpoint in enumerate(ENDPOINTS):
                for c, code in enumerate(CODES):
                    rows.append(
                        {
                            "__name__": REQUESTS,
                            "host": host,
                            "service": service,
                            "endpoint": endpoint,
                            "code": code,
                            "__value__": _requests(h, s, e, c),
                        }
                    )
            rows.append(
                {
                    "__name__": LATENCY,
                    "host": host,
                    "service": service,
                    "endpoint": "",
                    "code": "",
                    "__value__": round(0.05 + h * 0.01 + s * 0.001, 4),
                }
            )
    return pd.DataFrame(rows)


def candidates() -> list[dict[str, Any]]:
    """The variants of the experiment: the baseline and one candidate per kind of reduction."""
    critical = [CRITICAL_SELECTOR]
    return [
        {"name": "baseline", "role": "baseline", "template": "baseline"},
        {
            "name": "top5",
            "role": "candidate",
            "template": "top-k",
            "variables": {
                "metric": REQUESTS,
                "k": TOP_K,
                "by_label": "service",
                "apply_to": "truth_.*",
                "critical": critical,
            },
        },
        {
            "name": "floor",
            "role": "candidate",
            "template": "adaptive-filter",
            "variables": {"metric": REQUESTS, "threshold": THRESHOLD, "critical": critical},
        },
        {
            "name": "nolatency",
            "role": "candidate",
            "template": "drop-metrics",
            "variables": {"regex": LATENCY, "critical": critical},
        },
        {
            "name": "ok-codes",
            "role": "candidate",
            "template": "keep-series",
            "variables": {
                "label": "code",
                "regex": "2..",
                "apply_to": REQUESTS,
                "critical": critical,
            },
        },
    ]


def _critical(row: dict[str, Any]) -> bool:
    return bool(
        row["__name__"] == REQUESTS
        and row["service"] == CRITICAL_SERVICE
        and row["code"] == CRITICAL_CODE
    )


def _top_services(rows: list[dict[str, Any]]) -> set[str]:
    score: dict[str, float] = defaultdict(float)
    for row in rows:
        if row["__name__"] == REQUESTS:
            score[row["service"]] += row["__value__"]
    ranked = sorted(score, key=lambda service: (-score[service], service))
    return set(ranked[:TOP_K])


def expected() -> dict[str, set[Series]]:
    """Per variant, the label sets it must deliver (without Phoenix's identity labels)."""
    rows = source().to_dict("records")
    top = _top_services(rows)
    keep = {
        "baseline": lambda row: True,
        "top5": lambda row: _critical(row) or row["service"] in top,
        "floor": lambda row: (
            _critical(row) or row["__name__"] != REQUESTS or row["__value__"] >= THRESHOLD
        ),
        "nolatency": lambda row: row["__name__"] != LATENCY,
        "ok-codes": lambda row: (
            _critical(row) or row["__name__"] != REQUESTS or row["code"].startswith("2")
        ),
    }
    return {variant: {_labels(row) for row in rows if test(row)} for variant, test in keep.items()}


def critical_series() -> set[Series]:
    """The series the experiment's critical selector matches in the source."""
    return {_labels(row) for row in source().to_dict("records") if _critical(row)}


def _labels(row: dict[str, Any]) -> Series:
    return frozenset((k, str(v)) for k, v in row.items() if k != "__value__" and v != "")
