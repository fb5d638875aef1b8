"""Gates: what each KPI of a candidate must show against the baseline, and the defaults.

A gate names one KPI, the direction that is better, and its bounds. Relative bounds are
fractions of the baseline's centre in the gate's direction (``min_improvement=0.20``: at least
20 % better; ``max_worsening=0.10``: at most 10 % worse; ``0.0``: no worse at all); absolute
bounds (``floor``, ``ceiling``) hold for every sample of the candidate. ``critical`` gates
decide a candidate's outcome, the others are reported beside it; a ``must_have_data`` gate
without data leaves the candidate inconclusive. ``docs/analysis.md`` explains each rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "DEFAULT_GATES",
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


# The defaults of issue 20, as data (the same gates as phoenix_core/metrics/catalog.yaml, which
# holds the queries). host_balance is, per variant, the share of its assigned hosts that
# delivered data (``metrics.derived.host_balance``), in the spirit of a sample-ratio-mismatch
# check: every assigned host must deliver. Throughput figures are reported only: a filter is
# meant to lower them.
_DEFAULTS: tuple[dict[str, Any], ...] = (
    {"kpi": "active_series", "unit": "series", "direction": "lower", "min_improvement": 0.20},
    {
        "kpi": "samples_per_second",
        "unit": "samples/s",
        "direction": "lower",
        "critical": False,
        "must_have_data": False,
    },
    {
        "kpi": "bytes_per_second",
        "unit": "bytes/s",
        "direction": "lower",
        "critical": False,
        "must_have_data": False,
    },
    {
        "kpi": "collector_cpu_cores",
        "unit": "cores",
        "direction": "lower",
        "max_worsening": 0.10,
        "test_spread": True,
    },
    {
        "kpi": "collector_rss_bytes",
        "unit": "bytes",
        "direction": "lower",
        "max_worsening": 0.10,
        "test_spread": True,
    },
    {
        "kpi": "failed_samples",
        "unit": "samples/s",
        "direction": "lower",
        "max_worsening": 0.0,
        "centre": "mean",
    },
    {"kpi": "critical_coverage", "unit": "%", "direction": "higher", "floor": 100.0},
    {
        "kpi": "host_balance",
        "unit": "%",
        "direction": "higher",
        "floor": 100.0,
        "must_have_data": False,
    },
)

DEFAULT_GATES: tuple[Gate, ...] = tuple(Gate.parse(data) for data in _DEFAULTS)
