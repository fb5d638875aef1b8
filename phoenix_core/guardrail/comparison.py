"""Does a candidate's result of a query match the baseline's? Pure: frames in, a finding out.

A result is a frame as ``phoenix_core.metrics.reader`` returns it: one column per label (``""``
where a series lacks it), then ``timestamp`` and ``value``. Identity labels (``drop_labels``:
the experiment and variant the query was scoped by) are removed first; every other label counts.

Two collectors scrape the same source at different moments, up to one scrape interval apart. So
at an evaluation time t a faithful candidate shows what the baseline shows at some moment near
t, not at t exactly: a gauge moved in between, a rate's window holds samples taken seconds
later, a series renamed by the source is renamed at each one's next scrape. The caller passes
each side's results around t too (``baseline_around``, ``candidate_around``: e.g. at t minus and
plus one scrape interval, t included), and the rule, in order:

1. **Label sets, exactly.** Each series is its set of labels (``__name__`` included). Nothing on
   either side at t: ``no_data``. Otherwise a baseline series at t is missing only if the
   candidate does not have it anywhere around t, and a candidate series at t is extra only if
   the baseline does not have it anywhere around t; the finding says how they differ:
   ``returns 0 series instead of 12``, ``loses label `pod` (12 series become 3)``,
   ``3 of 12 series missing: {…}``, ``2 series the baseline does not have: {…}``.
2. **Values, within a tolerance.** Each series both have at t: the candidate's value at t must
   lie within the range of the baseline's values around t, widened by ``tolerance`` (relative,
   default 1 %) or by ``ABSOLUTE_FLOOR`` near zero. NaN matches only NaN.

Without the frames around t, each side's result at t is all there is: exact label sets, values
within the tolerance of the baseline's at t. A series that appears in several rows of a result
(a range vector, ``x[5m]``) is compared on its latest sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from phoenix_core.guardrail.printer import format_string

__all__ = [
    "ABSOLUTE_FLOOR",
    "DEFAULT_TOLERANCE",
    "Comparison",
    "Outcome",
    "combine",
    "compare_results",
    "format_series",
]

DEFAULT_TOLERANCE = 0.01
"""Relative: how far beyond the baseline's values around the evaluation time a candidate's value
may be (float sums in another order, rate extrapolation over samples a few seconds apart)."""
ABSOLUTE_FLOOR = 1e-9
"""Differences this small never count, whatever their relative size (values near zero)."""
_SHOWN = 3
"""Series named in a finding before "… and N more"."""

Outcome = Literal["preserved", "changed", "no_data"]
Series = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One query's results compared: the ``outcome``, the ``finding`` in words, how many series
    each side returned, and the largest relative difference of a value beyond the baseline's
    range (0 when every value was within it, NaN when no value was compared)."""

    outcome: Outcome
    finding: str
    baseline_series: int
    candidate_series: int
    max_difference: float = math.nan


def compare_results(
    baseline: pd.DataFrame,
    candidate: pd.DataFrame,
    *,
    baseline_around: pd.DataFrame | None = None,
    candidate_around: pd.DataFrame | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    drop_labels: Iterable[str] = (),
) -> Comparison:
    """``candidate``'s result against ``baseline``'s at the same evaluation time; the frames
    ``…_around`` hold each side's results at times around it (see the module docstring)."""
    if not (tolerance >= 0):
        raise ValueError(f"tolerance must be a fraction >= 0, not {tolerance!r}")
    drop = frozenset(drop_labels)
    base = _latest(baseline, drop)
    cand = _latest(candidate, drop)
    nb, nc = len(base), len(cand)
    if nb == 0 and nc == 0:
        return Comparison("no_data", "returns no series, for the baseline either", 0, 0)
    around = _values_around(baseline_around, drop)
    base_near = set(base) | set(around)
    cand_near = set(cand) | set(_values_around(candidate_around, drop))
    if (nc == 0 and not set(base) & cand_near) or (nb == 0 and not set(cand) & base_near):
        return Comparison("changed", f"returns {nc} series instead of {nb}", nb, nc)

    parts = _series_differences(set(base), set(cand), base_near, cand_near)
    common = sorted(set(base) & set(cand), key=_sort_key)
    worst, differing, example = (0.0 if common else math.nan), 0, None
    for key in common:
        difference = _difference(cand[key], base[key], around.get(key, []))
        if difference > tolerance:
            differing += 1
            if example is None or difference > worst:
                example = key
        worst = max(worst, difference)
    if example is not None:
        parts.append(
            _values_differ(
                example, base, cand, worst=worst, tolerance=tolerance, differing=differing
            )
        )
    if parts:
        return Comparison("changed", "; ".join(parts), nb, nc, worst)
    within = f"values within {_percent(tolerance)} (max relative difference {_percent(worst)})"
    return Comparison("preserved", f"the same {_count(nb)}; {within}", nb, nc, worst)


def combine(points: Sequence[Comparison]) -> Comparison:
    """The comparisons of one query at several evaluation times as one: ``changed`` if it
    changed at any (its first such finding, with how many times when not all), else
    ``preserved`` if it matched with data at any, else ``no_data``."""
    if not points:
        raise ValueError("no comparison to combine")
    changed = [p for p in points if p.outcome == "changed"]
    worst = max(
        (p.max_difference for p in points if not math.isnan(p.max_difference)), default=math.nan
    )
    if changed:
        first = changed[0]
        finding = first.finding
        if len(changed) < len(points):
            finding += f" (at {len(changed)} of {len(points)} evaluation times)"
        return Comparison("changed", finding, first.baseline_series, first.candidate_series, worst)
    preserved = [p for p in points if p.outcome == "preserved"]
    if not preserved:
        return points[-1]
    last = preserved[-1]
    finding = last.finding
    if len(points) > 1:
        finding = f"at {len(points)} evaluation times: {finding}"
        if len(preserved) < len(points):
            finding += f" (no series at {len(points) - len(preserved)} of them)"
    return Comparison("preserved", finding, last.baseline_series, last.candidate_series, worst)


def format_series(series: Series) -> str:
    """``name{a="1", b="2"}`` (labels sorted; ``{}`` for a series without labels)."""
    labels = dict(series)
    name = labels.pop("__name__", "")
    inside = ", ".join(f"{k}={format_string(labels[k])}" for k in sorted(labels))
    return f"{name}{{{inside}}}"


def _latest(frame: pd.DataFrame, drop: frozenset[str]) -> dict[Series, float]:
    """Each series' labels (empty and dropped ones left out) and its latest value."""
    if "timestamp" in frame.columns and len(frame):
        frame = frame.sort_values("timestamp", kind="stable")
    labels = [c for c in frame.columns if c not in ("timestamp", "value") and c not in drop]
    out: dict[Series, float] = {}
    for row in frame[[*labels, "value"]].itertuples(index=False, name=None):
        *values, value = row
        key = frozenset((k, str(v)) for k, v in zip(labels, values, strict=True) if v != "")
        out[key] = float(value)
    return out


def _values_around(frame: pd.DataFrame | None, drop: frozenset[str]) -> dict[Series, list[float]]:
    """Each series in ``frame`` (labels as in ``_latest``) and its values that are not NaN."""
    out: dict[Series, list[float]] = {}
    if frame is None or not len(frame):
        return out
    labels = [c for c in frame.columns if c not in ("timestamp", "value") and c not in drop]
    for row in frame[[*labels, "value"]].itertuples(index=False, name=None):
        *values, value = row
        key = frozenset((k, str(v)) for k, v in zip(labels, values, strict=True) if v != "")
        values_of = out.setdefault(key, [])
        if not math.isnan(float(value)):
            values_of.append(float(value))
    return out


def _difference(value: float, base: float, around: list[float]) -> float:
    """How far ``value`` is outside the range of ``base`` and ``around``, relative to the nearer
    end (0 inside; inf when exactly one of ``value`` and ``base`` is NaN)."""
    if math.isnan(value) or math.isnan(base):
        return 0.0 if math.isnan(value) and math.isnan(base) else math.inf
    low, high = min([base, *around]), max([base, *around])
    if low <= value <= high:
        return 0.0
    edge = low if value < low else high
    gap = abs(value - edge)
    if math.isinf(gap):
        return math.inf
    if gap <= ABSOLUTE_FLOOR:
        return 0.0
    return gap / abs(edge) if edge != 0 else math.inf


def _series_differences(
    base: set[Series], cand: set[Series], base_near: set[Series], cand_near: set[Series]
) -> list[str]:
    """How the series at t differ, each side's series around t given the benefit of the doubt."""
    parts: list[str] = []
    base_names = {k for s in base for k, _ in s}
    cand_names = {k for s in cand for k, _ in s}
    lost = base_names - {k for s in cand_near for k, _ in s}
    gained = cand_names - {k for s in base_near for k, _ in s}
    counts = f"{_count(len(base))} become {len(cand)}" if len(base) != len(cand) else None
    if lost:
        parts.append(f"loses {_labels(lost)}" + (f" ({counts})" if counts else ""))
        counts = None
    if gained:
        parts.append(f"gains {_labels(gained)}" + (f" ({counts})" if counts else ""))
    if lost or gained:  # what remains once both sides have the same label names
        common = (base_names | cand_names) - lost - gained

        def project(series: set[Series]) -> set[Series]:
            return {frozenset((k, v) for k, v in s if k in common) for s in series}

        base, cand, base_near, cand_near = map(project, (base, cand, base_near, cand_near))
    missing, extra = base - cand_near, cand - base_near
    if missing:
        what = "series" if not (lost or gained) else "series (on the labels both have)"
        parts.append(f"{len(missing)} of {len(base)} {what} missing: {_list(missing)}")
    if extra:
        parts.append(f"{_count(len(extra))} the baseline does not have: {_list(extra)}")
    return parts


def _values_differ(
    key: Series,
    base: dict[Series, float],
    cand: dict[Series, float],
    *,
    worst: float,
    tolerance: float,
    differing: int,
) -> str:
    how = f"tolerance {_percent(tolerance)}"
    if not math.isinf(worst):  # inf: NaN on one side, or a baseline of 0; the values say it
        how = f"relative difference {_percent(worst)}, {how}"
    shown = f"{_number(cand[key])} instead of {_number(base[key])}"
    if len(base) == 1 and not key:
        return f"value {shown} ({how})"
    where = f"e.g. {format_series(key)}: {shown}"
    return f"values differ on {differing} of {len(base)} series ({how}), {where}"


def _count(n: int) -> str:
    return f"{n} series"


def _labels(names: Iterable[str]) -> str:
    ordered = sorted(names)
    word = "label" if len(ordered) == 1 else "labels"
    return f"{word} " + ", ".join(f"`{n}`" for n in ordered)


def _list(series: set[Series]) -> str:
    ordered = sorted(series, key=_sort_key)
    shown = ", ".join(format_series(s) for s in ordered[:_SHOWN])
    more = len(ordered) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _sort_key(series: Series) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(series))


def _number(value: float) -> str:
    return f"{value:.6g}"


def _percent(fraction: float) -> str:
    percent = fraction * 100
    text = f"{percent:.1f}" if percent >= 1 or percent == 0 else f"{percent:.2g}"
    return text.removesuffix(".0") + " %"
