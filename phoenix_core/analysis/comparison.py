"""One KPI, one candidate against the baseline: the statistics a verdict is built from.

- relative change of the centre (median, or mean for a gate that asks): (c − b) / |b|, with a
  percentile bootstrap interval (``resampling.centre_draws``, seeded);
- Mann-Whitney U, two-sided (``scipy.stats.mannwhitneyu``: exact up to 8 samples a side
  without ties, else the normal approximation corrected for ties and continuity);
- the Hodges-Lehmann shift, the median of the differences candidate − baseline, and its
  interval from the Mann-Whitney distribution (normal approximation, corrected for ties);
- Cliff's delta from U: P(c > b) − P(c < b), from −1 to 1;
- where asked, Brown-Forsythe (``scipy.stats.levene(center="median")``) for a change in spread,
  and the ratio of the mean absolute deviations from the median (what that test compares).

No data is not zero: NaN and infinite values are dropped, and a side left empty gives a
comparison of kind ``NO_DATA`` whose figures are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]

from phoenix_core.analysis.gates import Centre
from phoenix_core.analysis.resampling import (
    N_RESAMPLES,
    centre,
    centre_draws,
    pairwise_order_statistics,
)

__all__ = ["CONFIDENCE", "Comparison", "ComparisonKind", "compare", "relative_change"]

Array = npt.NDArray[np.float64]
CONFIDENCE = 0.95
NAN = float("nan")


class ComparisonKind(StrEnum):
    NO_DATA = "no data"  # a side has no sample
    UNTESTABLE = "untestable"  # a side has one sample: centres only
    CONSTANT = "constant"  # each side is one repeated value: exact figures, no resampling
    TESTED = "tested"


@dataclass(frozen=True)
class Comparison:
    """What one KPI of a candidate shows against the baseline; NaN where there is no figure.

    Changes are fractions (−0.31 = 31 % lower); ``hl_*`` are in the KPI's unit.
    ``constant_side`` names a side that repeats one value while the other varies (a counter at
    0 throughout): the bootstrap sees no spread there, though its spread is unknown, not zero.
    """

    kind: ComparisonKind
    centre: Centre
    n_baseline: int
    n_candidate: int
    baseline_centre: float = NAN
    candidate_centre: float = NAN
    relative_change: float = NAN
    relative_change_low: float = NAN
    relative_change_high: float = NAN
    p_value: float = NAN
    hl_shift: float = NAN
    hl_low: float = NAN
    hl_high: float = NAN
    effect_size: float = NAN
    spread_ratio: float = NAN
    spread_increase: float = NAN
    """The candidate's mean absolute deviation less the baseline's, in the KPI's unit."""
    spread_p_value: float = NAN
    constant_side: str | None = None


def relative_change(baseline: float | Array, candidate: float | Array) -> Array:
    """(c − b) / |b|; 0 when both are 0, ±inf when only the baseline is 0."""
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (c - b) / np.abs(b)
    from_zero = np.where(c > 0, np.inf, np.where(c < 0, -np.inf, 0.0))
    return np.asarray(np.where(b == 0, from_zero, change), dtype=np.float64)


def compare(
    baseline: pd.Series | npt.ArrayLike,
    candidate: pd.Series | npt.ArrayLike,
    *,
    centre_by: Centre = Centre.MEDIAN,
    test_spread: bool = False,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int | np.random.Generator = 0,
) -> Comparison:
    """Compare one KPI's samples of a candidate with the baseline's (see the module's doc).

    ``seed`` makes the bootstrap and the Hodges-Lehmann selection repeatable: the same samples
    give the same figures. ``n_resamples=0`` skips the bootstrap (its interval is NaN).
    """
    b, c = _clean(baseline), _clean(candidate)
    result = Comparison(ComparisonKind.NO_DATA, centre_by, b.size, c.size)
    if b.size:
        result = replace(result, baseline_centre=centre(b, centre_by))
    if c.size:
        result = replace(result, candidate_centre=centre(c, centre_by))
    if b.size == 0 or c.size == 0:
        return result
    change = float(relative_change(result.baseline_centre, result.candidate_centre))
    result = replace(result, kind=ComparisonKind.UNTESTABLE, relative_change=change)
    if b.size < 2 or c.size < 2:
        return result
    p_value, effect = _mann_whitney(b, c)
    result = replace(result, p_value=p_value, effect_size=effect)
    b_constant, c_constant = bool(b.min() == b.max()), bool(c.min() == c.max())
    if b_constant and c_constant:
        shift = float(c[0] - b[0])
        return replace(
            result,
            kind=ComparisonKind.CONSTANT,
            relative_change_low=change,
            relative_change_high=change,
            hl_shift=shift,
            hl_low=shift,
            hl_high=shift,
            spread_ratio=1.0 if test_spread else NAN,
            spread_increase=0.0 if test_spread else NAN,
            spread_p_value=1.0 if test_spread else NAN,
        )
    if b_constant or c_constant:
        result = replace(result, constant_side="baseline" if b_constant else "candidate")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    low = high = NAN
    if n_resamples:
        b_draws, c_draws = centre_draws(b, c, centre_by, n_resamples=n_resamples, rng=rng)
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(
            relative_change(b_draws, c_draws), [tail, 1.0 - tail], method="inverted_cdf"
        )
    shift, hl_low, hl_high = _hodges_lehmann(b, c, confidence, rng)
    spread_ratio, spread_increase, spread_p = _spread(b, c) if test_spread else (NAN, NAN, NAN)
    return replace(
        result,
        kind=ComparisonKind.TESTED,
        relative_change_low=float(low),
        relative_change_high=float(high),
        hl_shift=shift,
        hl_low=hl_low,
        hl_high=hl_high,
        spread_ratio=spread_ratio,
        spread_increase=spread_increase,
        spread_p_value=spread_p,
    )


def _clean(values: pd.Series | npt.ArrayLike) -> Array:
    """The finite values, sorted: the figures do not depend on the order samples came in."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(array[np.isfinite(array)])


def _mann_whitney(b: Array, c: Array) -> tuple[float, float]:
    """The two-sided p-value, and Cliff's delta (positive: the candidate tends to be higher)."""
    result = stats.mannwhitneyu(c, b, alternative="two-sided")
    delta = 2.0 * float(result.statistic) / (b.size * c.size) - 1.0
    return float(result.pvalue), delta


def _hodges_lehmann(
    b: Array, c: Array, confidence: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Median of the differences c_j − b_i, and the interval [D_(k), D_(N+1−k)] with k the
    lower critical value of U (normal approximation, tie-corrected; NaN when unbounded)."""
    n_pairs = b.size * c.size
    total = b.size + c.size
    _, ties = np.unique(np.concatenate([b, c]), return_counts=True)
    tie_term = float(np.sum(ties**3 - ties)) / (total * (total - 1))
    sd = math.sqrt(n_pairs / 12.0 * ((total + 1) - tie_term))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    k = round(n_pairs / 2.0 - z * sd)
    middle = [(n_pairs + 1) // 2, n_pairs // 2 + 1]
    ranks = middle + ([k, n_pairs + 1 - k] if k >= 1 else [])
    found = pairwise_order_statistics(b, c, ranks, rng)
    shift = (found[0] + found[1]) / 2.0
    if k < 1:
        return shift, NAN, NAN
    return shift, found[2], found[3]


def _spread(b: Array, c: Array) -> tuple[float, float, float]:
    """Ratio of mean absolute deviations from the median (candidate / baseline), their
    difference, and the Brown-Forsythe p-value; a side without spread gives a ratio of inf (or
    1 if both)."""
    b_spread = float(np.mean(np.abs(b - np.median(b))))
    c_spread = float(np.mean(np.abs(c - np.median(c))))
    ratio = float(relative_change(b_spread, c_spread)) + 1.0
    deviations = (np.abs(b - np.median(b)), np.abs(c - np.median(c)))
    if all(d.min() == d.max() for d in deviations):
        # Every deviation equal within each side: no variance for the test to compare with.
        return ratio, c_spread - b_spread, (1.0 if b_spread == c_spread else 0.0)
    result = stats.levene(b, c, center="median")
    return ratio, c_spread - b_spread, float(result.pvalue)
