"""Benchmark: forecast a 6-step pipeline over a 1,000,000-series inventory with 8 labels.

    .venv/bin/python bench/forecast.py [--series N] [--repeat R]

Prints the inventory shape, each run's wall time and the best, and the forecast's result.
Goal (issue 3): under 2 s on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from phoenix_core.pipelines.ir import parse_pipeline
from phoenix_core.pipelines.simulator import forecast

PIPELINE = {
    "steps": [
        {"protect": {"selectors": ['{process="kubelet"}', "node_load1"]}},
        {"drop_metrics": {"regex": "go_.*"}},
        {"drop_series": {"label": "endpoint", "regex": "/debug/.*", "metrics": "http_.*"}},
        {"filter_below": {"metric": "process_cpu_seconds_total", "threshold": 0.05}},
        {
            "top_k": {
                "metric": "process_cpu_seconds_total",
                "k": 20,
                "by_label": "process",
                "metrics": "process_.*",
            }
        },
        {"drop_labels": {"labels": ["pid", "user_id"]}},
    ]
}


def make_inventory(n: int, seed: int = 7) -> pd.DataFrame:
    """n series over 40 metrics with 8 labels of mixed cardinality, and latest values."""
    rng = np.random.default_rng(seed)
    metrics = (
        [f"process_{m}" for m in ("cpu_seconds_total", "resident_memory_bytes", "open_fds")]
        + [f"http_{m}" for m in ("requests_total", "request_duration_seconds_sum")]
        + [f"go_{m}" for m in ("goroutines", "threads", "gc_duration_seconds")]
        + [f"app_metric_{i}" for i in range(31)]
        + ["node_load1"]
    )

    def labels(prefix: str, count: int) -> np.ndarray:
        return np.array([f"{prefix}{i}" for i in range(count)], dtype=object)

    frame = pd.DataFrame(
        {
            "__name__": rng.choice(metrics, n),
            "process": rng.choice(np.append(labels("proc-", 499), "kubelet"), n),
            "pid": labels("", n),  # unique per series: the cardinality to remove
            "user_id": rng.choice(labels("u", 5000), n),
            "endpoint": rng.choice(np.append(labels("/api/v1/", 200), "/debug/pprof"), n),
            "method": rng.choice(np.array(["GET", "POST", "PUT", "DELETE"], dtype=object), n),
            "status": rng.choice(np.array(["200", "404", "500"], dtype=object), n),
            "region": rng.choice(labels("region-", 8), n),
            "instance": rng.choice(labels("10.0.0.", 64), n),
        }
    )
    frame["__value__"] = rng.exponential(1.0, n)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pipeline = parse_pipeline(PIPELINE)
    inventory = make_inventory(args.series)
    labels = [c for c in inventory.columns if c not in ("__name__", "__value__")]
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, python {platform.python_version()}, pandas {pd.__version__}")
    print(
        f"inventory: {len(inventory):,} series, {len(labels)} labels, "
        f"{inventory['__name__'].nunique()} metrics; pipeline: {len(pipeline.steps)} steps"
    )
    times = []
    result = None
    for run in range(args.repeat):
        started = time.perf_counter()
        result = forecast(pipeline, inventory)
        times.append(time.perf_counter() - started)
        print(f"run {run + 1}: {times[-1]:.3f} s")
    assert result is not None
    print(f"best: {min(times):.3f} s (goal: under 2 s)")
    print(f"forecast: {result.input_series:,} -> {result.output_series:,} series")
    print(result.waterfall().to_string(index=False))


if __name__ == "__main__":
    main()
