"""Price books: what a vendor charges for one meter, as data (issue 20).

A price book prices one meter (active series, custom metrics, samples ingested or GB ingested)
in tiers, marginally: each unit is charged at the price of the tier it falls in. Phoenix ships
one YAML file per vendor in ``price_books/`` (``builtin_price_books()``); a user's own book is
validated by ``load_price_book``, and every error names the field at fault
(``ValidationFailed`` with paths such as ``tiers.2.up_to``).

    name: amazon-managed-prometheus        # id, as in the file name
    vendor: Amazon Web Services
    product: Amazon Managed Service for Prometheus, US East (N. Virginia)
    meter: samples_ingested                # see Meter
    currency: USD
    per: 10_000_000                        # each tier's price is for this many units
    tiers:                                 # up_to: meter units per month; null: no bound
      - {up_to: 2_000_000_000, price: 0.90}
      - {up_to: 252_000_000_000, price: 0.35}
      - {up_to: null, price: 0.16}
    source: https://aws.amazon.com/prometheus/pricing/
    taken: 2026-12-05                      # the day the figures were read
    note: US East list prices; ...         # contract prices, unconfirmed figures

Free allowances are a first tier at price 0 (Grafana Cloud's 10k series, New Relic's 100 GB);
an allowance that grows with the fleet is ``included_per_host`` (Datadog's custom metrics per
host), taken off before the tiers; ``included_dpm_per_series`` bills active series on the
larger of the series and the data points per minute over that allowance (Grafana Cloud).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "Meter",
    "PriceBook",
    "Tier",
    "builtin_price_books",
    "load_price_book",
]

BookName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
"""A price book's id: lowercase letters, digits, ``-`` and ``_``, at most 63 long."""


class Meter(StrEnum):
    """What a vendor counts, and the unit its tier bounds are in (per month)."""

    ACTIVE_SERIES = "active_series"
    """Series active in the month (Grafana Cloud bills the 95th percentile)."""
    CUSTOM_METRICS = "custom_metrics"
    """Distinct metric name + tag values, hourly average over the month (Datadog)."""
    SAMPLES_INGESTED = "samples_ingested"
    """Samples (data points) received in the month."""
    GB_INGESTED = "gb_ingested"
    """Gigabytes (10^9 bytes) received in the month."""

    @property
    def unit(self) -> str:
        """The unit of what is billed, as a table's column names it: ``series``, ``custom
        metrics``, ``samples`` or ``GB`` (per month)."""
        return _METER_UNITS[self]


_METER_UNITS = {
    Meter.ACTIVE_SERIES: "series",
    Meter.CUSTOM_METRICS: "custom metrics",
    Meter.SAMPLES_INGESTED: "samples",
    Meter.GB_INGESTED: "GB",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
    """Units up to ``up_to`` (per month, counted from 0) cost ``price`` per ``per`` units."""

    up_to: float | None = Field(
        default=None, gt=0, description="Upper bound in meter units per month; null: none."
    )
    price: float = Field(ge=0, description="Price of ``per`` units within this tier.")


class PriceBook(_Model):
    """One vendor's price of one meter; tiers are ordered, contiguous and end unbounded."""

    name: BookName
    vendor: str = Field(min_length=1, max_length=200)
    product: str = Field(default="", max_length=200)
    meter: Meter
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD.")
    per: float = Field(default=1, gt=0, description="Each tier's price is for this many units.")
    tiers: list[Tier] = Field(min_length=1)
    included_per_host: float = Field(
        default=0, ge=0, description="Units per host per month free of charge (before tiers)."
    )
    included_dpm_per_series: float | None = Field(
        default=None,
        gt=0,
        description="active_series only: data points per minute each billed series includes; "
        "the billed series are the larger of the series and total DPM over this.",
    )
    source: str = Field(pattern=r"^https?://\S+$", description="The public pricing page.")
    taken: datetime.date = Field(description="The day the figures were read from the source.")
    note: str = Field(
        default="", description="Contract prices, unconfirmed figures, what is left out."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Raised as ValidationFailed, not ValueError: pydantic would name the whole model, and
        # these errors must name the tier's field (``tiers.2.up_to``).
        errors = _consistency_errors(self)
        if errors:
            raise ValidationFailed(errors)
        return self

    @property
    def lower_bounds(self) -> list[float]:
        """Where each tier starts (0 for the first)."""
        return [0.0] + [tier.up_to for tier in self.tiers[:-1] if tier.up_to is not None]


def _consistency_errors(book: PriceBook) -> list[FieldError]:
    errors: list[FieldError] = []
    last = len(book.tiers) - 1
    previous: float = 0.0
    for index, tier in enumerate(book.tiers):
        path = ("tiers", index, "up_to")
        if tier.up_to is None:
            if index != last:
                errors.append(FieldError(path, "only the last tier may be unbounded (null)"))
            continue
        if index == last:
            errors.append(
                FieldError(path, "the last tier must be unbounded (null): beyond it has no price")
            )
        if tier.up_to <= previous:
            errors.append(
                FieldError(
                    path,
                    f"tiers overlap: {tier.up_to:g} is not above the previous tier's bound "
                    f"{previous:g}",
                )
            )
        previous = max(previous, tier.up_to)
    if book.included_dpm_per_series is not None and book.meter is not Meter.ACTIVE_SERIES:
        errors.append(
            FieldError(("included_dpm_per_series",), "applies only to the active_series meter")
        )
    return errors


def load_price_book(document: str | bytes | Mapping[str, Any]) -> PriceBook:
    """A user's price book from its text (YAML or JSON) or an already parsed mapping.

    Raises ``ValidationFailed`` naming each field at fault. Reading the file is the caller's
    business (analysis does no I/O): ``load_price_book(Path(p).read_text())``.
    """
    data: object = document
    if isinstance(document, str | bytes):
        try:
            data = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            raise ValidationFailed([FieldError((), f"not valid YAML or JSON: {exc}")]) from exc
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldError((), "a price book must be a mapping of fields")])
    try:
        return PriceBook.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from exc


@cache
def _builtin() -> tuple[PriceBook, ...]:
    folder = resources.files("phoenix_core.analysis") / "price_books"
    books: list[PriceBook] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            book = load_price_book(entry.read_text(encoding="utf-8"))
            if f"{book.name}.yaml" != entry.name:
                raise ValidationFailed(
                    [FieldError(("name",), f"{entry.name} holds the price book {book.name!r}")]
                )
            books.append(book)
    return tuple(books)


def builtin_price_books() -> dict[str, PriceBook]:
    """The price books shipped with Phoenix, by name (read once from the package data)."""
    return {book.name: book for book in _builtin()}
