"""Example experiment specs for tests."""

from __future__ import annotations

from typing import Any

APP: dict[str, Any] = {
    "name": "app",
    "kind": "scrape",
    "address": "127.0.0.1:9100",
    "metrics_path": "/m",
}
NO_LOAD: dict[str, Any] = {"load_profile": None, "sources": [APP]}
"""``spec_data(**NO_LOAD)``: no load, and so no loadsim source (one needs the other)."""


def spec_data(**overrides: Any) -> dict[str, Any]:
    """A complete A/B/n spec (one baseline, two candidates) using every field."""
    data: dict[str, Any] = {
        "name": "drop pid, keep top 20 processes",
        "description": "Does top-k save enough?",
        "variants": [
            {"name": "baseline", "role": "baseline", "template": "baseline"},
            {
                "name": "topk20",
                "role": "candidate",
                "template": "top-k",
                "template_version": 2,
                "variables": {"k": 20, "metric": "process_cpu_seconds_total"},
            },
            {
                "name": "hybrid",
                "role": "candidate",
                "template": "hybrid",
                "variables": {"k": 10, "threshold": 0.5},
            },
        ],
        "collector": "prometheus-agent",
        "host_selector": {"env": "staging", "role": "web"},
        "sources": [
            {"name": "loadsim", "kind": "loadsim"},
            APP,
        ],
        "sink": {"kind": "prometheus-remote-write", "url": "http://127.0.0.1:9090/api/v1/write"},
        "load_profile": {"name": "high-cardinality", "parameters": {"series": 5000}},
        "warmup_seconds": 30,
        "duration_seconds": 300,
        "critical_selectors": ['process_cpu_seconds_total{process="kubelet"}', '{job="node"}'],
        "gates": [
            {"kpi": "active_series", "max_change_percent": -20},
            {"kpi": "cpu_cores", "max_change_percent": 10},
            {"kpi": "critical_coverage", "min_value": 100},
        ],
    }
    data.update(overrides)
    return data
