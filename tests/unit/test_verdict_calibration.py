"""Calibration by simulation: the figures docs/analysis.md states, held by seeded runs.

Tolerances are three binomial standard errors of the run count (2,000 runs at 5 %: ±0.015;
1,000 runs: ±0.021), so a seed that happens to fall at the edge is not mistaken for a change.
Under ~15 s in all; the figures themselves are in bench/verdict.py's output.
"""

from __future__ import annotations

import pytest

from phoenix_core.analysis import calibration
from phoenix_core.analysis.verdict import ALPHA, MIN_SAMPLES, Outcome


def test_aa_comparisons_are_significant_at_alpha() -> None:
    rate = calibration.aa_significance_rate(calibration.DEMO_N, runs=2000)
    assert rate == pytest.approx(ALPHA, abs=0.015)


def test_holm_keeps_three_aa_candidates_at_alpha_together() -> None:
    with_holm, without = calibration.family_error_rate(runs=1000)
    assert with_holm <= ALPHA + 0.021
    assert without > 2 * ALPHA  # what Holm corrects: ~1 - 0.95³ ≈ 0.14 uncorrected


def test_a_30_percent_reduction_passes_at_the_demo_n_with_power_090() -> None:
    assert calibration.pass_rate(calibration.DEMO_N, runs=2000) >= 0.90


def test_min_samples_is_the_smallest_n_with_power_080() -> None:
    assert calibration.pass_rate(MIN_SAMPLES, runs=2000) >= calibration.TARGET_POWER
    assert calibration.pass_rate(MIN_SAMPLES - 1, runs=2000) < calibration.TARGET_POWER


def test_no_change_passes_the_series_gate_at_most_half_alpha() -> None:
    # a pass needs significance in the better direction, and an estimate of -20 % or better
    rate = calibration.pass_rate(calibration.DEMO_N, runs=1000, change=0.0)
    assert rate <= ALPHA / 2 + 0.015


def test_the_hodges_lehmann_interval_holds_the_shift_95_percent_of_runs() -> None:
    assert calibration.hl_coverage(runs=1000) == pytest.approx(0.95, abs=0.021)


def test_the_bootstrap_interval_of_the_change_is_not_too_narrow() -> None:
    assert calibration.change_coverage(runs=500) >= 0.95 - 0.03


def test_a_sparse_counter_that_rose_rarely_passes() -> None:
    # Counts at 0.05 and 0.15 a sample: zeros mostly. Passes come from runs where neither side
    # shows a failure (constant and equal: e^-1 × e^-3 ≈ 1.8 % of runs), next to none else.
    rates = calibration.sparse_counter_rates(0.05, 0.15, runs=1000)
    assert rates[Outcome.PASS] <= 0.04
    assert rates[Outcome.FAIL] > 0.05


def test_a_counter_at_zero_on_both_sides_passes() -> None:
    assert calibration.sparse_counter_rates(0.0, 0.0, runs=50)[Outcome.PASS] == 1.0
