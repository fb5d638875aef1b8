"""One KPI's statistics (``compare``) and the kernels under them, on hand-checkable samples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from phoenix_core.analysis import resampling
from phoenix_core.analysis.comparison import ComparisonKind, compare, relative_change
from phoenix_core.analysis.gates import Centre


def test_small_samples_by_hand() -> None:
    # differences c - b: 3 2 1 5 4 3 -> sorted 1 2 3 3 4 5, median 3; every c above every b
    result = compare([1.0, 2.0, 3.0], [4.0, 6.0])
    assert result.kind is ComparisonKind.TESTED
    assert (result.n_baseline, result.n_candidate) == (3, 2)
    assert (result.baseline_centre, result.candidate_centre) == (2.0, 5.0)
    assert result.relative_change == pytest.approx(1.5)
    assert result.hl_shift == 3.0
    assert result.effect_size == 1.0  # Cliff's delta: P(c > b) - P(c < b)
    assert result.p_value == pytest.approx(0.2)  # exact: 2 × 1 / C(5, 2)
    # k = round(3 - 1.96 × √3) = 0: no interval at this size, said as NaN
    assert math.isnan(result.hl_low) and math.isnan(result.hl_high)


def test_the_hodges_lehmann_interval_is_order_statistics_of_the_differences() -> None:
    rng = np.random.default_rng(0)
    b, c = rng.normal(0, 1, 20), rng.normal(1, 1, 20)
    result = compare(b, c)
    differences = np.sort(np.subtract.outer(c, b).ravel())
    k = round(200 - 1.959964 * math.sqrt(400 * 41 / 12))  # no ties in continuous samples
    assert result.hl_shift == pytest.approx(np.median(differences))
    assert (result.hl_low, result.hl_high) == (differences[k - 1], differences[400 - k])


def test_p_value_and_effect_size_are_scipys_mann_whitney() -> None:
    rng = np.random.default_rng(1)
    b, c = rng.normal(10, 2, 30), rng.normal(9, 2, 25)
    expected = stats.mannwhitneyu(c, b, alternative="two-sided")
    result = compare(b, c)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.effect_size == pytest.approx(2 * expected.statistic / (30 * 25) - 1)


def test_constant_and_equal_is_no_change_not_an_error() -> None:
    result = compare([5.0] * 20, [5.0] * 20, test_spread=True)
    assert result.kind is ComparisonKind.CONSTANT
    assert (result.relative_change, result.relative_change_low, result.relative_change_high) == (
        0.0,
        0.0,
        0.0,
    )
    assert (result.p_value, result.hl_shift, result.effect_size) == (1.0, 0.0, 0.0)
    assert (result.spread_ratio, result.spread_p_value) == (1.0, 1.0)


def test_constant_and_different_is_an_exact_change() -> None:
    result = compare([5.0] * 20, [4.0] * 20)
    assert result.kind is ComparisonKind.CONSTANT
    assert result.relative_change == result.relative_change_low == pytest.approx(-0.2)
    assert result.hl_shift == result.hl_low == result.hl_high == -1.0
    assert result.effect_size == -1.0
    assert result.p_value < 1e-6


def test_no_data_is_not_zero() -> None:
    result = compare(pd.Series([1.0, 2.0, 3.0, np.nan]), pd.Series([np.nan, np.nan]))
    assert result.kind is ComparisonKind.NO_DATA
    assert (result.n_baseline, result.n_candidate) == (3, 0)
    assert result.baseline_centre == 2.0  # the NaN was dropped, not read as 0
    assert math.isnan(result.candidate_centre) and math.isnan(result.p_value)
    assert compare([], [1.0, 2.0]).kind is ComparisonKind.NO_DATA
    assert compare([1.0, np.inf], [1.0, 2.0]).n_baseline == 1


def test_one_sample_a_side_gives_centres_only() -> None:
    result = compare([3.0], [1.0, 2.0])
    assert result.kind is ComparisonKind.UNTESTABLE
    assert result.relative_change == pytest.approx(-0.5)
    assert math.isnan(result.p_value)


def test_a_side_with_one_value_is_named() -> None:
    result = compare(np.zeros(20), np.r_[np.zeros(18), 1.0, 2.0], centre_by=Centre.MEAN)
    assert result.kind is ComparisonKind.TESTED
    assert result.constant_side == "baseline"
    assert result.relative_change == math.inf  # from 0 to 0.15: no finite ratio
    assert compare(np.arange(20.0), np.arange(20.0)).constant_side is None


def test_relative_change_edges() -> None:
    found = relative_change(np.array([0.0, 0.0, 0.0, 2.0, -2.0]), np.array([0.0, 3.0, -1, 1, -1]))
    assert found.tolist() == [0.0, math.inf, -math.inf, -0.5, 0.5]


def test_spread_ratio_and_brown_forsythe() -> None:
    rng = np.random.default_rng(2)
    b, c = rng.normal(100, 1, 200), rng.normal(100, 3, 200)
    result = compare(b, c, test_spread=True)
    assert result.spread_ratio == pytest.approx(3.0, rel=0.2)
    assert result.spread_p_value == pytest.approx(stats.levene(b, c, center="median").pvalue)
    assert result.spread_p_value < 1e-6
    assert math.isnan(compare(b, c).spread_p_value)


def test_seeded_figures_repeat() -> None:
    rng = np.random.default_rng(3)
    b, c = rng.lognormal(0, 0.3, 40), rng.lognormal(-0.2, 0.3, 40)
    assert compare(b, c, seed=7) == compare(b, c, seed=7)
    big_b, big_c = rng.lognormal(0, 0.3, 2000), rng.lognormal(-0.2, 0.3, 1500)
    assert compare(big_b, big_c, seed=7) == compare(big_b, big_c, seed=7)


def test_the_interval_holds_the_estimate() -> None:
    rng = np.random.default_rng(4)
    for n in (20, 3000):  # scipy's resampling, then the exact draws
        result = compare(rng.lognormal(0, 0.2, n), rng.lognormal(np.log(0.7), 0.2, n))
        assert result.relative_change_low < result.relative_change < result.relative_change_high
        assert result.hl_low < result.hl_shift < result.hl_high


@pytest.mark.parametrize("n", [3, 4])
def test_exact_median_draws_follow_the_enumerated_bootstrap(n: int) -> None:
    values = np.array([1.0, 2.0, 4.0, 8.0][:n])
    medians = [np.median(values[list(pick)]) for pick in itertools.product(range(n), repeat=n)]
    exact = pd.Series(medians).value_counts(normalize=True)
    draws = resampling._median_draws(values, 200_000, np.random.default_rng(5))
    drawn = pd.Series(draws).value_counts(normalize=True)
    assert set(drawn.index) <= set(exact.index)
    for value, share in exact.items():
        assert drawn.get(value, 0.0) == pytest.approx(share, abs=0.005)


@pytest.mark.parametrize("n", [601, 600])
def test_exact_median_draws_match_resampling(n: int) -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(0, 1, n)
    values[::7] = values[0]  # ties
    draws = resampling._median_draws(values, 100_000, np.random.default_rng(7))
    resampled = np.median(values[rng.integers(0, n, (20_000, n))], axis=1)
    quantiles = [0.025, 0.25, 0.5, 0.75, 0.975]
    np.testing.assert_allclose(
        np.quantile(draws, quantiles), np.quantile(resampled, quantiles), atol=0.01
    )


@pytest.mark.parametrize("many_values", [False, True], ids=["counter", "continuous"])
def test_mean_draws_match_resampling(many_values: bool) -> None:
    rng = np.random.default_rng(8)
    values = rng.exponential(0.3, 2000) if many_values else rng.poisson(0.3, 2000) * 1.0
    draws = resampling._mean_draws(values, 20_000, np.random.default_rng(9))
    assert draws.size == 20_000
    resampled = values[rng.integers(0, values.size, (5000, values.size))].mean(axis=1)
    assert draws.mean() == pytest.approx(resampled.mean(), abs=1e-3)
    assert draws.std() == pytest.approx(resampled.std(), rel=0.05)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: (rng.normal(0, 1, 700), rng.normal(0.3, 2, 650)),
        lambda rng: (rng.poisson(0.1, 700) * 1.0, rng.poisson(0.2, 650) * 1.0),  # mostly 0
        lambda rng: (rng.integers(0, 5, 800) * 1.0, rng.integers(0, 7, 900) * 1.0),
        lambda rng: (np.r_[np.zeros(799), 1.0], np.zeros(700)),
        lambda rng: (rng.standard_cauchy(900), rng.standard_cauchy(800)),
    ],
    ids=["continuous", "sparse", "integers", "almost-constant", "heavy-tailed"],
)
def test_selected_pairwise_differences_equal_sorting_them_all(make) -> None:  # type: ignore[no-untyped-def]
    b, c = make(np.random.default_rng(10))
    n_pairs = b.size * c.size
    assert n_pairs > resampling.DIRECT_LIMIT  # the selection, not the direct path
    ranks = [1, 2, n_pairs // 3, n_pairs // 2, n_pairs // 2 + 1, n_pairs - 5, n_pairs]
    found = resampling.pairwise_order_statistics(b, c, ranks, np.random.default_rng(11))
    every = np.sort(np.subtract.outer(c, b).ravel())
    assert found == [every[rank - 1] for rank in ranks]
