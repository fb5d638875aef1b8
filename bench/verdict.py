"""Benchmark: the verdict over 8 KPIs × 4 variants × 10,000 samples, and its calibration.

    .venv/bin/python bench/verdict.py [--samples N] [--repeat R] [--no-calibration]

Prints each run's wall time of ``judge`` (1 baseline, 3 candidates, the default gates) and the
best; then the calibration figures by simulation (``phoenix_core.analysis.calibration``): the
A/A false-positive rate, the family-wise rate over 3 candidates with and without Holm, the power
to detect a 30 % reduction at the demo's n, MIN_SAMPLES re-derived, interval coverages, the
sparse counter's outcomes and a CPU gate's A/A outcomes. Goal (issue 20): under 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import scipy

from phoenix_core.analysis import calibration
from phoenix_core.analysis.gates import gates_by_kpi
from phoenix_core.analysis.verdict import MIN_SAMPLES, judge
from phoenix_core.metrics.catalog import builtin_catalog

LEVELS = {
    "active_series": 12_000.0,
    "samples_per_second": 800.0,
    "bytes_per_second": 1.2e6,
    "collector_cpu_cores": 0.25,
    "collector_rss_bytes": 2.5e8,
    "failed_samples": 0.0,
    "critical_coverage": 100.0,
    "host_balance": 100.0,
}
GATES = tuple(gate for gate in builtin_catalog().gates() if gate.kpi in LEVELS)  # the defaults
# Each candidate's level as a factor of the baseline's, where it differs.
CANDIDATES = {
    "topk": {"active_series": 0.68, "samples_per_second": 0.7, "bytes_per_second": 0.72},
    "drop-labels": {"active_series": 0.75, "collector_cpu_cores": 0.97},
    "hybrid": {"active_series": 0.62, "collector_cpu_cores": 1.04, "collector_rss_bytes": 0.95},
}


def make_samples(n: int, seed: int = 11) -> pd.DataFrame:
    """n samples per KPI per variant: log-normal noise (σ 0.05) around each level; no failed
    samples; every host delivering; coverage at 100 %, except drop-labels, which misses a
    critical series in 1 %."""
    rng = np.random.default_rng(seed)
    frames = []
    for variant, factors in {"baseline": {}, **CANDIDATES}.items():
        for kpi, level in LEVELS.items():
            if kpi == "failed_samples":
                values = np.zeros(n)
            elif kpi == "host_balance":  # every assigned host delivered
                values = np.full(n, level)
            elif kpi == "critical_coverage":
                values = np.full(n, level)
                if variant == "drop-labels":
                    values[rng.random(n) < 0.01] = 99.5
            else:
                values = rng.lognormal(np.log(level * factors.get(kpi, 1.0)), 0.05, n)
            frames.append(pd.DataFrame({"variant": variant, "kpi": kpi, "value": values}))
    return pd.concat(frames, ignore_index=True)


def timing(n: int, repeat: int) -> None:
    samples = make_samples(n)
    print(f"samples: {len(samples):,} rows ({len(LEVELS)} KPIs x 4 variants x {n:,})")
    times = []
    verdict = None
    for run in range(repeat):
        started = time.perf_counter()
        verdict = judge(samples, "baseline", GATES)
        times.append(time.perf_counter() - started)
        print(f"run {run + 1}: {times[-1]:.3f} s")
    assert verdict is not None
    print(f"best: {min(times):.3f} s (goal: under 1 s)")
    print(f"verdict: {verdict.outcome.value}, winner: {verdict.winner}")
    for reason in verdict.reasons:
        print(f"  {reason}")


def calibrate() -> None:
    n = calibration.DEMO_N
    sigma = calibration.NOISE_SIGMA
    print(f"\ncalibration: log-normal noise sigma {sigma}, alpha 0.05, demo n = {n} a side")
    started = time.perf_counter()
    print(f"A/A p < alpha, 2,000 runs: {calibration.aa_significance_rate():.4f}")
    with_holm, without = calibration.family_error_rate()
    print(
        f"A/A/A/A any candidate significant, 1,000 runs: {with_holm:.4f} with Holm,"
        f" {without:.4f} without"
    )
    power = calibration.pass_rate()
    print(f"power, 30 % reduction passes the series gate at n = {n}, 2,000 runs: {power:.4f}")
    for other in (10, 11, 12, 30, 40):
        print(f"  at n = {other}: {calibration.pass_rate(other):.4f}")
    for change in (0.0, -0.10, -0.20):
        print(
            f"  a true change of {change:+.0%} passes: {calibration.pass_rate(change=change):.4f}"
        )
    smallest = calibration.smallest_sufficient_n()
    print(f"smallest n with power >= 0.80: {smallest} (MIN_SAMPLES = {MIN_SAMPLES})")
    print(f"Hodges-Lehmann 95 % interval coverage, 1,000 runs: {calibration.hl_coverage():.4f}")
    print(
        "bootstrap 95 % interval of the change, coverage, 1,000 runs:"
        f" {calibration.change_coverage():.4f} (n = {n}),"
        f" {calibration.change_coverage(40):.4f} (n = 40)"
    )
    print("failed_samples gate (no increase, mean), Poisson counts a sample, 2,000 runs:")
    for rates in ((0.0, 0.0), (0.05, 0.05), (0.05, 0.15), (0.02, 0.06), (0.1, 0.3)):
        outcome = calibration.sparse_counter_rates(*rates)
        shares = ", ".join(f"{o.value} {share:.3f}" for o, share in outcome.items())
        print(f"  baseline {rates[0]}, candidate {rates[1]}: {shares}")
    cpu = gates_by_kpi(builtin_catalog().gates())["collector_cpu_cores"]
    print("collector_cpu_cores gate (at most +10 %, spread tested), 500 runs:")
    for noise, level in ((0.05, 1.0), (0.10, 1.0), (0.05, 1.2)):
        rng = np.random.default_rng(7)
        base = calibration.noisy(rng, 500, n, sigma=noise)
        cand = calibration.noisy(rng, 500, n, level=level, sigma=noise)
        outcome = calibration.outcome_rates(cpu, base, cand, n_resamples=2000)
        shares = ", ".join(f"{o.value} {share:.3f}" for o, share in outcome.items())
        print(f"  sigma {noise}, candidate x{level}: {shares}")
    print(f"calibration took {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-calibration", action="store_true")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(
        f"machine: {machine}, python {platform.python_version()}, numpy {np.__version__},"
        f" scipy {scipy.__version__}, pandas {pd.__version__}"
    )
    timing(args.samples, args.repeat)
    if not args.no_calibration:
        calibrate()


if __name__ == "__main__":
    main()
