"""Benchmark: cost 100 experiments of 4 variants each under every shipped price book.

    .venv/bin/python bench/cost.py [--experiments N] [--variants V] [--repeat R]

Prints the wall time of pricing them one experiment at a time (one ``project_costs`` call per
experiment, as the API would) and all at once (one call over the experiments stacked), best
of R, and the time to load the shipped price books the first time. Goal (issue 20): under
0.5 s for 100 experiments × every shipped price book.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from phoenix_core.analysis.cost import Fleet, project_costs
from phoenix_core.analysis.price_books import builtin_price_books


def make_usage(experiments: int, variants: int, seed: int = 20) -> pd.DataFrame:
    """Per-host usage of ``variants`` variants (the first the baseline) per experiment."""
    rng = np.random.default_rng(seed)
    n = experiments * variants
    series = rng.uniform(500, 20_000, n)
    samples = series / rng.choice([10.0, 15.0, 30.0, 60.0], n)
    spread = rng.uniform(0.01, 0.1, n)
    return pd.DataFrame(
        {
            "experiment": np.repeat(np.arange(experiments), variants),
            "variant": np.tile([f"v{i}" for i in range(variants)], experiments),
            "role": np.tile(["baseline"] + ["candidate"] * (variants - 1), experiments),
            "active_series": series,
            "active_series_low": series * (1 - spread),
            "active_series_high": series * (1 + spread),
            "samples_per_second": samples,
            "samples_per_second_low": samples * (1 - spread),
            "samples_per_second_high": samples * (1 + spread),
            "bytes_per_second": samples * rng.uniform(1.5, 4.0, n),
        }
    )


def best_of(repeat: int, run: object) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    books = builtin_price_books()
    load = time.perf_counter() - start
    usage = make_usage(args.experiments, args.variants)
    per_experiment = [group for _, group in usage.groupby("experiment", sort=False)]
    fleet = Fleet(args.hosts, scrape_interval_seconds=30)

    def one_at_a_time() -> None:
        for frame in per_experiment:
            project_costs(frame, fleet, books)

    def all_at_once() -> None:
        project_costs(usage, fleet, books)

    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, numpy {np.__version__}"
    )
    print(
        f"{args.experiments} experiments × {args.variants} variants × {len(books)} price books "
        f"= {args.experiments * args.variants * len(books):,} rows; fleet {args.hosts} hosts"
    )
    print(f"loading the shipped price books (first time): {load * 1000:.1f} ms")
    for label, run in (("one call per experiment", one_at_a_time), ("one call", all_at_once)):
        best, times = best_of(args.repeat, run)
        runs = ", ".join(f"{t * 1000:.1f}" for t in times)
        print(f"{label}: best {best * 1000:.1f} ms (runs: {runs} ms); goal under 500 ms")


if __name__ == "__main__":
    main()
