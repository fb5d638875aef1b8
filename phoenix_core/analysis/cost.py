"""What each variant would cost a fleet under each price book, and what a candidate saves.

Usage is measured per host per variant (Phoenix's KPIs: active series, samples/s, bytes/s, each
a point value with an optional confidence interval) and projected onto a fleet of ``hosts``,
optionally at another scrape interval. Each meter reads the usage it bills:

- ``active_series``: series × hosts; with ``included_dpm_per_series`` the larger of that and
  total data points per minute (samples/s × 60 × hosts) over the DPM each series includes.
- ``custom_metrics``: series × hosts (a custom metric is a distinct name + tag values).
- ``samples_ingested``: samples/s × hosts × seconds in a month.
- ``gb_ingested``: bytes/s × hosts × seconds in a month ÷ 10^9.

``included_per_host`` × hosts is taken off, then the tiers price the rest marginally (each
unit at its tier's price). A month is 730 hours (8,760 ÷ 12, as cloud price lists count), a
year 12 months. A meter whose input was not measured costs NaN, never 0.

Confidence intervals: every cost is nondecreasing in every usage input (prices are ≥ 0, the
billed quantity is built from sums, products by positive constants and maxima of its inputs,
less a constant floored at 0), so the cost at an interval's low and high bounds is the low and
high bound of the cost: an interval of usage maps onto an interval of cost. Where a meter reads
two KPIs (Grafana: series and samples/s), the bounds take both lows together and both highs
together. The verdict's interval of a candidate bounds its difference from the baseline
(``Estimate.from_change`` turns a change % and its interval into the candidate's usage), so
savings = the baseline's cost at its value − the candidate's cost: the low bound takes the
candidate at its high bound, the high bound at its low one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from phoenix_core.analysis.price_books import Meter, PriceBook, builtin_price_books
from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "HOURS_PER_MONTH",
    "SECONDS_PER_MONTH",
    "Estimate",
    "Fleet",
    "Usage",
    "VariantCost",
    "project_costs",
    "variant_cost",
]

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
MONTHS_PER_YEAR = 12
BYTES_PER_GB = 1e9

Array = npt.NDArray[np.float64]
_RATES = ("active_series", "samples_per_second", "bytes_per_second")
_ROLES = ("baseline", "candidate")


@dataclass(frozen=True)
class Estimate:
    """A value with an optional interval (``low`` ≤ ``value`` ≤ ``high``); NaN is unknown."""

    value: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if (self.low is not None and self.low > self.value) or (
            self.high is not None and self.high < self.value
        ):
            found = f"{self.low}, {self.value}, {self.high}"
            raise ValidationFailed([FieldError((), f"need low ≤ value ≤ high, got {found}")])

    @property
    def bounds(self) -> tuple[float, float, float]:
        """(low, value, high), a missing bound standing at the value."""
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        return (low, self.value, high)

    @classmethod
    def from_change(
        cls,
        reference: float,
        change_percent: float,
        ci_low_percent: float | None = None,
        ci_high_percent: float | None = None,
    ) -> Estimate:
        """A candidate's usage from the baseline's value and the verdict's change % and CI."""

        def at(percent: float | None) -> float | None:
            return None if percent is None else reference * (1 + percent / 100)

        return cls(reference * (1 + change_percent / 100), at(ci_low_percent), at(ci_high_percent))


@dataclass(frozen=True)
class Usage:
    """One variant's measured usage per host, at the experiment's scrape interval."""

    active_series: Estimate
    samples_per_second: Estimate | None = None
    bytes_per_second: Estimate | None = None

    def __post_init__(self) -> None:
        errors = [
            FieldError((name,), "must not be negative")
            for name in _RATES
            if (estimate := getattr(self, name)) is not None and min(estimate.bounds) < 0
        ]
        if errors:
            raise ValidationFailed(errors)


@dataclass(frozen=True)
class Fleet:
    """The fleet to project onto; ``scrape_interval_seconds`` None keeps the measured one."""

    hosts: int
    scrape_interval_seconds: float | None = None

    def __post_init__(self) -> None:
        errors = []
        if self.hosts < 1:
            errors.append(FieldError(("hosts",), "must be at least 1"))
        interval = self.scrape_interval_seconds
        if interval is not None and not (interval > 0 and math.isfinite(interval)):
            errors.append(FieldError(("scrape_interval_seconds",), "must be a positive number"))
        if errors:
            raise ValidationFailed(errors)


@dataclass(frozen=True)
class VariantCost:
    """One variant under one price book; savings only when a baseline was given."""

    price_book: str
    currency: str
    billable: Estimate
    """Billed quantity per month, in the meter's unit (series, metrics, samples, GB)."""
    monthly: Estimate
    yearly: Estimate
    savings_monthly: Estimate | None = None
    savings_yearly: Estimate | None = None


def variant_cost(
    book: PriceBook, usage: Usage, fleet: Fleet, baseline: Usage | None = None
) -> VariantCost:
    """The cost of one variant's usage across ``fleet`` under ``book``, and its savings."""
    billable, monthly = _evaluate(book, _usage_bounds([usage]), fleet)
    cost = _estimate(monthly[:, 0])
    savings_monthly = savings_yearly = None
    if baseline is not None:
        _, base = _evaluate(book, _usage_bounds([baseline]), fleet)
        reference = float(base[1, 0])
        savings_monthly = Estimate(
            reference - cost.value, reference - cost.bounds[2], reference - cost.bounds[0]
        )
        savings_yearly = _times(savings_monthly, MONTHS_PER_YEAR)
    return VariantCost(
        price_book=book.name,
        currency=book.currency,
        billable=_estimate(billable[:, 0]),
        monthly=cost,
        yearly=_times(cost, MONTHS_PER_YEAR),
        savings_monthly=savings_monthly,
        savings_yearly=savings_yearly,
    )


def project_costs(
    usage: pd.DataFrame,
    fleet: Fleet,
    books: Iterable[PriceBook] | Mapping[str, PriceBook] | None = None,
) -> pd.DataFrame:
    """One row per variant × price book: monthly and yearly cost, and savings vs the baseline.

    ``usage`` has one row per variant, per host: ``variant``, ``role`` (``baseline`` or
    ``candidate``), ``active_series`` and optionally ``samples_per_second`` and
    ``bytes_per_second``, each with optional ``<column>_low``/``<column>_high`` bounds; an
    ``experiment`` column, when present, groups the rows (one baseline per experiment).
    ``books`` defaults to every shipped price book.
    """
    chosen = _books(books)
    bounds, groups, is_baseline = _read_frame(usage)  # bounds: (3 rates, 3 bounds, n)
    n = len(usage)
    baseline_row = np.empty(len(is_baseline), dtype=np.int64)
    baseline_row[groups[is_baseline]] = np.flatnonzero(is_baseline)
    baseline_row = baseline_row[groups]  # each row's experiment's baseline row

    parts: dict[str, list[Array]] = {}
    for book in chosen:
        billable, monthly = _evaluate(book, bounds, fleet)
        reference = monthly[1][baseline_row]
        savings = np.stack([reference - monthly[2], reference - monthly[1], reference - monthly[0]])
        savings[:, is_baseline] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = np.where(reference > 0, savings / reference * 100, np.nan)
        for key, values in (
            ("billable", billable),
            ("monthly", monthly),
            ("yearly", monthly * MONTHS_PER_YEAR),
            ("savings_monthly", savings),
            ("savings_yearly", savings * MONTHS_PER_YEAR),
            ("savings_percent", percent),
        ):
            for suffix, row in zip(("_low", "", "_high"), values, strict=True):
                parts.setdefault(key + suffix, []).append(row)

    k = len(chosen)
    # Rows ordered variant by variant, each with every book: (n, k) raveled row-major.
    columns: dict[str, object] = {}
    if "experiment" in usage.columns:
        columns["experiment"] = np.repeat(usage["experiment"].to_numpy(), k)
    columns["variant"] = np.repeat(usage["variant"].to_numpy(), k)
    columns["role"] = np.repeat(usage["role"].to_numpy(), k)
    columns["price_book"] = np.tile(np.array([b.name for b in chosen], dtype=object), n)
    columns["vendor"] = np.tile(np.array([b.vendor for b in chosen], dtype=object), n)
    columns["meter"] = np.tile(np.array([str(b.meter) for b in chosen], dtype=object), n)
    columns["currency"] = np.tile(np.array([b.currency for b in chosen], dtype=object), n)
    for key in _OUTPUT_NUMBERS:
        columns[key] = np.stack(parts[key], axis=1).ravel()
    return pd.DataFrame(columns)


_OUTPUT_NUMBERS = [
    f"{key}{suffix}"
    for key in ("billable", "monthly", "yearly", "savings_monthly", "savings_yearly")
    for suffix in ("", "_low", "_high")
] + ["savings_percent", "savings_percent_low", "savings_percent_high"]


def _evaluate(book: PriceBook, bounds: Array, fleet: Fleet) -> tuple[Array, Array]:
    """Billed quantity and monthly cost, each (3 bounds, n), from rates (3, 3 bounds, n)."""
    series, samples, bytes_ = _at_interval(bounds, fleet.scrape_interval_seconds)
    hosts = float(fleet.hosts)
    if book.meter is Meter.ACTIVE_SERIES:
        quantity = series * hosts
        if book.included_dpm_per_series is not None:
            dpm = samples * 60.0 * hosts
            quantity = np.maximum(quantity, dpm / book.included_dpm_per_series)
    elif book.meter is Meter.CUSTOM_METRICS:
        quantity = series * hosts
    elif book.meter is Meter.SAMPLES_INGESTED:
        quantity = samples * hosts * SECONDS_PER_MONTH
    else:
        quantity = bytes_ * hosts * SECONDS_PER_MONTH / BYTES_PER_GB
    quantity = np.maximum(quantity - book.included_per_host * hosts, 0.0)
    return quantity, _tiered(book, quantity)


def _tiered(book: PriceBook, quantity: Array) -> Array:
    """Marginal tiered price: each unit at the price of the tier it falls in."""
    cost = np.zeros_like(quantity)
    for lower, tier in zip(book.lower_bounds, book.tiers, strict=True):
        width = math.inf if tier.up_to is None else tier.up_to - lower
        cost += np.clip(quantity - lower, 0.0, width) * (tier.price / book.per)
    return cost


def _at_interval(bounds: Array, interval: float | None) -> tuple[Array, Array, Array]:
    """Rates at the chosen scrape interval: samples/s and bytes/s scale by measured ÷ chosen.

    The measured interval is series ÷ samples/s (point values); one factor scales every bound,
    so the intervals keep their relative width. Without a measured sample rate, samples/s is
    series ÷ the chosen interval and bytes/s is unknown (NaN).
    """
    series, samples, bytes_ = bounds[0], bounds[1], bounds[2]
    if interval is None:
        return series, samples, bytes_
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(samples[1] > 0, series[1] / (samples[1] * interval), np.nan)
    measured = ~np.isnan(samples[1])
    samples = np.where(measured, samples * factor, series / interval)
    bytes_ = np.where(measured, bytes_ * factor, np.nan)
    return series, samples, bytes_


def _usage_bounds(usages: list[Usage]) -> Array:
    nan = Estimate(math.nan)
    return np.array(
        [
            [[(getattr(u, name) or nan).bounds[b] for u in usages] for b in range(3)]
            for name in _RATES
        ],
        dtype=np.float64,
    )


def _column_bounds(frame: pd.DataFrame, name: str) -> Array:
    if name not in frame.columns:
        return np.full((3, len(frame)), np.nan)
    value = frame[name].to_numpy(dtype=np.float64)

    def bound(suffix: str) -> Array:
        column = f"{name}_{suffix}"
        if column not in frame.columns:
            return value
        found = frame[column].to_numpy(dtype=np.float64)
        return np.where(np.isnan(found), value, found)

    return np.stack([bound("low"), value, bound("high")])


def _read_frame(frame: pd.DataFrame) -> tuple[Array, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Validated usage bounds (3 rates, 3 bounds, n), experiment codes and baseline flags."""
    errors = [
        FieldError(("usage", column), "column missing")
        for column in ("variant", "role", "active_series")
        if column not in frame.columns
    ]
    if errors:
        raise ValidationFailed(errors)
    roles = frame["role"].to_numpy()
    is_baseline = roles == "baseline"
    for position in np.flatnonzero(~(is_baseline | (roles == "candidate"))):
        errors.append(FieldError(("usage", int(position), "role"), "must be baseline or candidate"))
    bounds = np.stack([_column_bounds(frame, name) for name in _RATES])
    for name, (low, value, high) in zip(_RATES, bounds, strict=True):
        for position in np.flatnonzero((low < 0) | (value < 0) | (high < 0)):
            errors.append(FieldError(("usage", int(position), name), "must not be negative"))
        for position in np.flatnonzero((low > value) | (high < value)):
            errors.append(FieldError(("usage", int(position), name), "need low ≤ value ≤ high"))
    if errors:
        raise ValidationFailed(errors)
    keys: list[object] = [None]
    groups = np.zeros(len(frame), dtype=np.int64)
    if "experiment" in frame.columns:
        codes, uniques = pd.factorize(frame["experiment"])
        groups, keys = codes.astype(np.int64), list(uniques)
    counts = np.bincount(groups, weights=is_baseline, minlength=len(keys))

    def where(key: object) -> str:
        return "the usage" if key is None else f"experiment {key!r}"

    if (counts != 1).any():
        raise ValidationFailed(
            [
                FieldError(("usage", "role"), f"{where(keys[i])} has {int(c)} baselines, not 1")
                for i, c in enumerate(counts)
                if c != 1
            ]
        )
    return bounds, groups, is_baseline


def _books(books: Iterable[PriceBook] | Mapping[str, PriceBook] | None) -> list[PriceBook]:
    if books is None:
        return list(builtin_price_books().values())
    if isinstance(books, Mapping):
        return list(books.values())
    return list(books)


def _estimate(bounds: Array) -> Estimate:
    return Estimate(float(bounds[1]), float(bounds[0]), float(bounds[2]))


def _times(estimate: Estimate, factor: float) -> Estimate:
    low, value, high = estimate.bounds
    return Estimate(value * factor, low * factor, high * factor)
