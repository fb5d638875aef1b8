"""Largest-triangle-three-buckets (LTTB, Steinarsson 2013): the points of a series that keep
its shape at a given count, the first and the last among them. A plot holds a few points per
pixel of its width, whatever the series' length, and downsamples again the range a zoom shows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["lttb"]


def lttb(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], points: int
) -> npt.NDArray[np.intp]:
    """The indices (ascending) of at most ``points`` points of the series ``(x, y)`` (x
    ascending, no NaN in y) that LTTB keeps: all of them when there are no more than
    ``points``; else the first, the last, and in each of ``points - 2`` equal buckets between
    them the point making the largest triangle with the point kept before it and the mean of
    the next bucket. A spike is kept: its triangle is the largest of its bucket."""
    n = len(x)
    if points >= n or points < 3:
        return np.arange(n) if points >= n else np.array([0, n - 1][:points], dtype=np.intp)
    edges = np.linspace(1, n - 1, points - 1).astype(np.intp)  # the inner buckets' bounds
    kept = np.empty(points, dtype=np.intp)
    kept[0], kept[-1] = 0, n - 1
    previous = 0
    for bucket in range(points - 2):
        start, end = edges[bucket], edges[bucket + 1]
        following = slice(end, edges[bucket + 2]) if bucket + 2 < len(edges) else slice(n - 1, n)
        mean_x, mean_y = x[following].mean(), y[following].mean()
        area = np.abs(
            (x[previous] - mean_x) * (y[start:end] - y[previous])
            - (x[previous] - x[start:end]) * (mean_y - y[previous])
        )
        previous = start + int(np.argmax(area))
        kept[bucket + 1] = previous
    return kept
