"""Gates: what each KPI of a candidate must show against the baseline, and the defaults.

A gate names one KPI, the direction that is better, and its bounds. Relative bounds are
fractions of the baseline's centre in the gate's direction (``min_improvement=0.20``: at least
20 % better; ``max_worsening=0.10``: at most 10 % worse; ``0.0``: no worse at all); absolute
bounds (``floor``, ``ceiling``) hold for every sample of the candidate. ``critical`` gates
decide a candidate's outcome, the others are reported beside it; a ``must_have_data`` gate
without data leaves the candidate inconclusive. ``docs/analysis.md`` explains each rule.

The default gates are data, in the KPI catalog (``phoenix_core/metrics/catalog.yaml``;
``builtin_catalog().gates()``); an experiment's spec may replace a KPI's.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "Centre",
    "Direction",
    "Gate",
    "gates_by_kpi",
]


class Direction(StrEnum):
    """Which way a KPI is better."""

    LOWER = "lower"
    HIGHER = "higher"


class Centre(StrEnum):
    """The statistic whose relative change a gate bounds.

    The median for levels (robust to a spike); the mean for counters that are mostly zero,
    whose median is 0 on both sides and would hide any increase.
    """

    MEDIAN = "median"
    MEAN = "mean"


class Gate(BaseModel):
    """A pass condition on one KPI of each candidate, judged against the baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kpi: str = Field(min_length=1)
    unit: str = ""
    direction: Direction
    min_improvement: float | None = Field(default=None, gt=0)
    max_worsening: float | None = Field(default=None, ge=0)
    floor: float | None = None
    ceiling: float | None = None
    critical: bool = True
    must_have_data: bool = True
    test_spread: bool = False
    max_spread_increase: float = Field(default=0.5, ge=0)
    tolerance: float | None = Field(
        default=None,
        gt=0,
        description="In the KPI's unit: a difference this small is of no practical "
        "consequence. A worsening within it passes whatever its percentage, and a spread must "
        "grow by more than it (mean absolute deviation) to fail.",
    )
    centre: Centre = Centre.MEDIAN

    @model_validator(mode="after")
    def _one_relative_bound(self) -> Self:
        if self.min_improvement is not None and self.max_worsening is not None:
            raise ValueError("give min_improvement or max_worsening, not both")
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("floor is above ceiling")
        return self

    @classmethod
    def parse(cls, data: Any) -> Gate:
        """Validate ``data``; raise ``ValidationFailed`` naming each field at fault."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc) from exc

    @property
    def has_bound(self) -> bool:
        """Whether the gate can fail; one without bounds is reported only."""
        bounds = (self.min_improvement, self.max_worsening, self.floor, self.ceiling)
        return any(bound is not None for bound in bounds) or self.test_spread

    @property
    def compares(self) -> bool:
        """Whether the gate judges the candidate against the baseline (a relative bound or a
        spread test: statistics that need enough samples); absolute bounds alone hold or not
        for each sample, at any count."""
        relative = (self.min_improvement, self.max_worsening)
        return any(bound is not None for bound in relative) or self.test_spread

    def improvement(self, relative_change: float) -> float:
        """A relative change turned into improvement: positive is better in this direction."""
        return -relative_change if self.direction is Direction.LOWER else relative_change


def gates_by_kpi(gates: Iterable[Gate]) -> dict[str, Gate]:
    """The gates keyed by KPI; ``ValidationFailed`` if a KPI has two."""
    found: dict[str, Gate] = {}
    for index, gate in enumerate(gates):
        if gate.kpi in found:
            raise ValidationFailed([FieldError((index, "kpi"), f"a second gate for {gate.kpi}")])
        found[gate.kpi] = gate
    return found
