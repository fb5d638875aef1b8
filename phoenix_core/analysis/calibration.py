"""Calibration by simulation: how often the verdict errs on data whose truth is known.

Every figure runs the verdict's own code (``compare``, ``holm``, ``gate_outcome``) on seeded
samples from a known model, so the same seed gives the same figure. The model of a KPI is
log-normal noise around its level, σ = ``NOISE_SIGMA`` (0.25: a coefficient of variation of
about 25 %, noisier than a steady series count, so the figures are on the safe side).
``bench/verdict.py`` prints them, ``tests/unit/test_verdict_calibration.py`` holds them to the
values docs/analysis.md states, and ``MIN_SAMPLES`` is ``smallest_sufficient_n()``.

A gate's pass on an improvement reads the p-value and the estimate, not the bootstrap interval
(its fail reads the interval), so runs that count only passes or p-values skip the bootstrap
(``n_resamples=0``): the answers are the same and the runs ten times quicker.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from phoenix_core.analysis.comparison import compare
from phoenix_core.analysis.gates import Gate
from phoenix_core.analysis.resampling import N_RESAMPLES
from phoenix_core.analysis.verdict import ALPHA, Outcome, gate_outcome, holm

__all__ = [
    "DEMO_N",
    "NOISE_SIGMA",
    "REDUCTION",
    "TARGET_POWER",
    "aa_significance_rate",
    "change_coverage",
    "family_error_rate",
    "hl_coverage",
    "outcome_rates",
    "pass_rate",
    "smallest_sufficient_n",
    "sparse_counter_rates",
]

Array = npt.NDArray[np.float64]
NOISE_SIGMA = 0.25
DEMO_N = 20  # points per variant per KPI of the demo's 46 s run at 2 s scrapes: (46 - 8) / 2 + 1
REDUCTION = 0.30
TARGET_POWER = 0.80
# The shipped defaults of these two KPIs (phoenix_core/metrics/catalog.yaml; analysis reads no
# files, and a test holds these equal to the catalog's).
SERIES_GATE = Gate(kpi="active_series", unit="series", direction="lower", min_improvement=0.20)
FAILED_GATE = Gate(
    kpi="failed_samples", unit="samples/s", direction="lower", max_worsening=0.0, centre="mean"
)


def noisy(
    rng: np.random.Generator, runs: int, n: int, level: float = 1.0, sigma: float = NOISE_SIGMA
) -> Array:
    """``runs`` × ``n`` samples of a KPI whose median is ``level``."""
    return rng.lognormal(np.log(level), sigma, size=(runs, n))


def aa_significance_rate(
    n: int = DEMO_N, runs: int = 2000, *, seed: int = 1, alpha: float = ALPHA
) -> float:
    """Share of A/A comparisons (both sides from one model) whose p-value is below α."""
    rng = np.random.default_rng(seed)
    baseline, candidate = noisy(rng, runs, n), noisy(rng, runs, n)
    p = [compare(baseline[i], candidate[i], n_resamples=0, seed=i).p_value for i in range(runs)]
    return float(np.mean(np.asarray(p) < alpha))


def family_error_rate(
    n: int = DEMO_N, runs: int = 1000, *, candidates: int = 3, seed: int = 2, alpha: float = ALPHA
) -> tuple[float, float]:
    """Share of A/A/A/A runs (``candidates`` equal to the baseline) where any candidate is
    significant: with Holm's adjustment, and without (for contrast)."""
    rng = np.random.default_rng(seed)
    any_holm = any_raw = 0
    for _ in range(runs):
        baseline = noisy(rng, 1, n)[0]
        p = np.array(
            [
                compare(baseline, noisy(rng, 1, n)[0], n_resamples=0).p_value
                for _ in range(candidates)
            ]
        )
        any_holm += bool((holm(p) < alpha).any())
        any_raw += bool((p < alpha).any())
    return any_holm / runs, any_raw / runs


def outcome_rates(
    gate: Gate,
    baseline: Array,
    candidate: Array,
    *,
    n_resamples: int,
    min_samples: int = 2,
    alpha: float = ALPHA,
) -> dict[Outcome, float]:
    """Share of runs (rows) ending in each outcome, one candidate against the baseline."""
    counts = dict.fromkeys(Outcome, 0)
    for run in range(baseline.shape[0]):
        comparison = compare(
            baseline[run],
            candidate[run],
            centre_by=gate.centre,
            test_spread=gate.test_spread,
            n_resamples=n_resamples,
            seed=run,
        )
        outcome, _ = gate_outcome(
            gate,
            comparison,
            candidate[run],
            p_holm=comparison.p_value,
            spread_p_holm=comparison.spread_p_value,
            min_samples=min_samples,
            alpha=alpha,
        )
        counts[outcome] += 1
    return {outcome: count / baseline.shape[0] for outcome, count in counts.items()}


def pass_rate(
    n: int = DEMO_N,
    runs: int = 2000,
    *,
    change: float = -REDUCTION,
    gate: Gate = SERIES_GATE,
    seed: int = 3,
) -> float:
    """Share of runs in which ``gate`` passes a candidate whose level differs by ``change``
    (the power, when the change meets the gate). Any sample count is judged (no minimum)."""
    rng = np.random.default_rng(seed)
    baseline, candidate = noisy(rng, runs, n), noisy(rng, runs, n, level=1.0 + change)
    return outcome_rates(gate, baseline, candidate, n_resamples=0)[Outcome.PASS]


def smallest_sufficient_n(
    target: float = TARGET_POWER, *, runs: int = 2000, start: int = 4, stop: int = 60
) -> int:
    """The smallest n per side at which a ``REDUCTION`` passes the series gate in at least
    ``target`` of runs: ``MIN_SAMPLES``."""
    for n in range(start, stop + 1):
        if pass_rate(n, runs) >= target:
            return n
    raise ValueError(f"no n up to {stop} reaches a power of {target}")


def sparse_counter_rates(
    baseline_rate: float,
    candidate_rate: float,
    n: int = DEMO_N,
    runs: int = 2000,
    *,
    seed: int = 5,
) -> dict[Outcome, float]:
    """Outcomes of the ``failed_samples`` gate (no increase, on the mean) for Poisson counts
    per sample at these rates: mostly zeros when the rates are small."""
    rng = np.random.default_rng(seed)
    baseline = rng.poisson(baseline_rate, (runs, n)).astype(np.float64)
    candidate = rng.poisson(candidate_rate, (runs, n)).astype(np.float64)
    return outcome_rates(FAILED_GATE, baseline, candidate, n_resamples=N_RESAMPLES)


def change_coverage(
    n: int = DEMO_N, runs: int = 1000, *, change: float = -REDUCTION, seed: int = 6
) -> float:
    """Share of runs whose bootstrap interval of the relative change of medians holds the
    true change."""
    rng = np.random.default_rng(seed)
    baseline, candidate = noisy(rng, runs, n), noisy(rng, runs, n, level=1.0 + change)
    held = 0
    for run in range(runs):
        c = compare(baseline[run], candidate[run], seed=run)
        held += c.relative_change_low <= change <= c.relative_change_high
    return held / runs


def hl_coverage(n: int = DEMO_N, runs: int = 1000, *, shift: float = 0.3, seed: int = 4) -> float:
    """Share of runs whose Hodges-Lehmann interval holds the true shift (normal samples)."""
    rng = np.random.default_rng(seed)
    baseline = rng.normal(0.0, 1.0, (runs, n))
    candidate = rng.normal(shift, 1.0, (runs, n))
    held = 0
    for run in range(runs):
        c = compare(baseline[run], candidate[run], n_resamples=0, seed=run)
        held += c.hl_low <= shift <= c.hl_high
    return held / runs
