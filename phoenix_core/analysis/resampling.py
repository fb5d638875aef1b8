"""The numerical kernels of a comparison: bootstrap draws of a centre, order statistics of
pairwise differences. Both stay fast at 10,000 samples a side.

Bootstrap: up to ``RESAMPLE_LIMIT`` samples a side, ``scipy.stats.bootstrap`` resamples (the
percentile method's distribution is kept; the interval of the relative change is read from it).
Past that, resampling costs O(resamples × n) (0.9 s a comparison at 10,000 a side), so each
side's bootstrap distribution is drawn from its exact form instead, the same distribution
without building the resamples:

- median: sorted, the k-th smallest of a resample is x_(K) with P(K ≤ j) = P(Bin(n, j/n) ≥ k)
  (Maritz and Jarrett, 1978); for an even n the upper middle value follows from the lower one
  (the draws left above it are uniform on the rest);
- mean: the resample's counts of each distinct value are multinomial (a counter has few);
  with many distinct values, the samples are resampled (in chunks, O(resamples × n)).

Pairwise differences (Hodges-Lehmann): all of them up to ``DIRECT_LIMIT`` pairs; past it, the
k-th smallest is selected without forming the n_b × n_c differences: a random sample of pairs
brackets it, exact counts (sorted arrays, ``searchsorted``) keep the bracket honest, and the
bracket narrows until the differences inside it are few enough to list.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

from phoenix_core.analysis.gates import Centre

__all__ = [
    "DIRECT_LIMIT",
    "N_RESAMPLES",
    "RESAMPLE_LIMIT",
    "centre",
    "centre_draws",
    "pairwise_order_statistics",
]

Array = npt.NDArray[np.float64]

N_RESAMPLES = 2000
RESAMPLE_LIMIT = 500
DIRECT_LIMIT = 250_000
_LIST_LIMIT = 100_000
_FIRST_SAMPLE = 50_000
_PAIR_SAMPLE = 20_000
_MAX_ATTEMPTS = 8
_RESAMPLE_CHUNK = 2_000_000  # values drawn at once when resampling means


def centre(values: Array, kind: Centre) -> float:
    """The median or the mean."""
    return float(np.median(values) if kind is Centre.MEDIAN else np.mean(values))


def centre_draws(
    baseline: Array, candidate: Array, kind: Centre, *, n_resamples: int, rng: np.random.Generator
) -> tuple[Array, Array]:
    """``n_resamples`` bootstrap draws of each side's centre, the sides resampled independently."""
    if max(baseline.size, candidate.size) <= RESAMPLE_LIMIT:
        reduce = _sorted_median if kind is Centre.MEDIAN else np.mean

        def statistic(b: Array, c: Array, axis: int = -1) -> Array:
            return np.stack([reduce(b, axis=axis), reduce(c, axis=axis)])

        result = stats.bootstrap(
            (baseline, candidate),
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            method="percentile",
            rng=rng,
        )
        draws = np.asarray(result.bootstrap_distribution, dtype=np.float64)
        return draws[0], draws[1]
    draw = _median_draws if kind is Centre.MEDIAN else _mean_draws
    return draw(baseline, n_resamples, rng), draw(candidate, n_resamples, rng)


def _sorted_median(values: Array, axis: int = -1) -> Array:
    """``np.median`` along ``axis``, by sorting: faster on many short rows than its partition."""
    ordered = np.sort(values, axis=axis)
    n = ordered.shape[axis]
    middle = np.take(ordered, (n - 1) // 2, axis=axis) + np.take(ordered, n // 2, axis=axis)
    return np.asarray(middle / 2.0, dtype=np.float64)


def _median_draws(values: Array, n_resamples: int, rng: np.random.Generator) -> Array:
    ordered = np.sort(values)
    n = ordered.size
    k = (n + 1) // 2  # the (lower) middle rank
    j = np.arange(1, n + 1)
    # P(K ≤ j) = P(at least k of the n draws fall on ranks ≤ j)
    cdf = stats.binom.sf(k - 1, n, j / n)
    lower = np.minimum(np.searchsorted(cdf, rng.random(n_resamples)), n - 1) + 1
    if n % 2:
        return np.asarray(ordered[lower - 1], dtype=np.float64)
    # Even n: the upper middle K' equals K unless exactly k draws fell on ranks ≤ K; then it is
    # the smallest of the other n - k draws, uniform on ranks K+1..n.
    p_at_k = stats.binom.pmf(k, n, lower / n) * (1.0 - ((lower - 1) / lower) ** k)
    p_lower = np.maximum(np.diff(cdf, prepend=0.0)[lower - 1], np.finfo(np.float64).tiny)
    moves = rng.random(n_resamples) < np.minimum(p_at_k / p_lower, 1.0)
    room = n - lower
    step = np.ceil(room * (1.0 - rng.random(n_resamples) ** (1.0 / (n - k))))
    upper = np.where(moves & (room > 0), lower + np.clip(step, 1, np.maximum(room, 1)), lower)
    middle = (ordered[lower - 1] + ordered[upper.astype(np.int64) - 1]) / 2.0
    return np.asarray(middle, dtype=np.float64)


def _mean_draws(values: Array, n_resamples: int, rng: np.random.Generator) -> Array:
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size * 16 <= values.size:  # few values (a counter): multinomial counts
        drawn = rng.multinomial(values.size, counts / values.size, size=n_resamples)
        return np.asarray(drawn @ distinct / values.size, dtype=np.float64)
    # Many values: a multinomial over each would cost more than resampling them, in chunks.
    chunk = max(1, _RESAMPLE_CHUNK // values.size)
    means = [
        values[rng.integers(0, values.size, (min(chunk, n_resamples - start), values.size))].mean(
            axis=1
        )
        for start in range(0, n_resamples, chunk)
    ]
    return np.asarray(np.concatenate(means), dtype=np.float64)


def pairwise_order_statistics(
    baseline: Array, candidate: Array, ranks: list[int], rng: np.random.Generator
) -> list[float]:
    """The ``ranks``-th smallest (1-based) of the differences candidate_j − baseline_i."""
    b = np.sort(baseline)
    c = np.sort(candidate)
    if b.size * c.size <= DIRECT_LIMIT:
        indices = [rank - 1 for rank in ranks]
        return [float(v) for v in np.partition(np.subtract.outer(c, b).ravel(), indices)[indices]]
    sample = np.sort(
        c[rng.integers(0, c.size, _FIRST_SAMPLE)] - b[rng.integers(0, b.size, _FIRST_SAMPLE)]
    )
    found: dict[int, float] = {}
    for group in _adjacent(sorted(set(ranks))):
        found.update(zip(group, _select(b, c, group, sample, rng), strict=True))
    return [found[rank] for rank in ranks]


def _adjacent(ranks: list[int]) -> list[list[int]]:
    """Ranks in runs of consecutive values (the two middle ranks of an even count)."""
    groups: list[list[int]] = []
    for rank in ranks:
        if groups and rank == groups[-1][-1] + 1:
            groups[-1].append(rank)
        else:
            groups.append([rank])
    return groups


class _Bracket:
    """[lo, hi] holding the wanted ranks: ``below`` differences < lo, ``upto`` ≤ hi."""

    def __init__(self, b: Array, c: Array) -> None:
        self.b, self.c = b, c
        self.lo, self.hi = -np.inf, np.inf
        self.below, self.upto = 0, b.size * c.size

    def count(self, d: float, *, inclusive: bool) -> int:
        """How many differences c_j − b_i are < d (or ≤ d when ``inclusive``)."""
        side: Literal["left", "right"] = "left" if inclusive else "right"
        return int(self.b.size * self.c.size - np.searchsorted(self.b, self.c - d, side=side).sum())

    def narrow(self, sample: Array, first: int, last: int) -> bool:
        """Move the ends to the sample's quantiles around the ranks where the counts allow."""
        inside = self.upto - self.below
        width = 4.0 * np.sqrt(0.25 / sample.size) + 2.0 / sample.size
        q_lo = max((first - self.below - 1) / inside - width, 0.0)
        q_hi = min((last - self.below) / inside + width, 1.0)
        moved = False
        lo = float(sample[int(q_lo * (sample.size - 1))])
        if lo > self.lo and (below := self.count(lo, inclusive=False)) < first:
            self.lo, self.below, moved = lo, below, True
        hi = float(sample[int(np.ceil(q_hi * (sample.size - 1)))])
        if hi < self.hi and (upto := self.count(hi, inclusive=True)) >= last:
            self.hi, self.upto, moved = hi, upto, True
        return moved

    def ranges(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per candidate value c_j, the first baseline index and how many have c_j − b_i in
        [lo, hi]."""
        starts = np.searchsorted(self.b, self.c - self.hi, side="left")
        stops = np.searchsorted(self.b, self.c - self.lo, side="right")
        return starts.astype(np.int64), (stops - starts).astype(np.int64)

    def sample(self, rng: np.random.Generator) -> Array:
        starts, lengths = self.ranges()
        cumulative = np.cumsum(lengths)
        picks = np.sort(rng.integers(0, cumulative[-1], _PAIR_SAMPLE))
        rows = np.searchsorted(cumulative, picks, side="right")
        offsets = picks - (cumulative[rows] - lengths[rows])
        return np.sort(self.c[rows] - self.b[starts[rows] + offsets])

    def listed(self) -> Array:
        starts, lengths = self.ranges()
        rows = np.repeat(np.arange(self.c.size), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.asarray(self.c[rows] - self.b[np.repeat(starts, lengths) + offsets])


def _select(
    b: Array, c: Array, ranks: list[int], sample: Array, rng: np.random.Generator
) -> list[float]:
    first, last = ranks[0], ranks[-1]
    bracket = _Bracket(b, c)
    attempts = 0
    while bracket.upto - bracket.below > _LIST_LIMIT and attempts <= _MAX_ATTEMPTS:
        if attempts or bracket.below or bracket.upto < b.size * c.size:
            sample = bracket.sample(rng)  # the shared first sample is of every pair
        if not bracket.narrow(sample, first, last):
            attempts += 1  # the sample missed (rare) or ties sit at the ends: try another
        if bracket.lo == bracket.hi:
            break
    if bracket.lo == bracket.hi:
        return [float(bracket.lo)] * len(ranks)
    listed = bracket.listed()
    indices = [rank - bracket.below - 1 for rank in ranks]
    return [float(v) for v in np.partition(listed, indices)[indices]]
