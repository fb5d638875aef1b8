"""What every collector compiler shares: its inputs, its output, and how it says what it supports.

A compiler turns a ``Pipeline`` into a complete config for one variant on one host. Steps that
depend on values (``top_k``, and ``filter_below`` where the collector sees labels only) compile
into keep- or drop-lists computed by the forecast simulator from reference values (the baseline's
latest measurements); the controller recompiles and reloads them every ``refresh_seconds``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.wire.labels import identity
from phoenix_core.wire.tasks import CollectorKind

if TYPE_CHECKING:
    import pandas as pd

    from phoenix_core.pipelines.simulator import Forecast

__all__ = [
    "CompileContext",
    "RenderedConfig",
    "ScrapeTarget",
    "Support",
    "SupportMode",
    "refuse",
]


class SupportMode(StrEnum):
    EXACT = "exact"
    BY_REFRESH = "by refresh"
    REFUSED = "refused"


@dataclass(frozen=True)
class Support:
    """How a collector runs one step kind, and the conditions or reason in a sentence."""

    mode: SupportMode
    note: str
    keeps_series: str = ""
    """Why the collector, running this step, never lowers the series count though the step may
    ("" where it can): a candidate relying on it saves no series there."""


@dataclass(frozen=True)
class ScrapeTarget:
    """A source the collector scrapes on its host (Prometheus exposition format)."""

    job: str
    address: str
    metrics_path: str = "/metrics"


@dataclass(frozen=True)
class CompileContext:
    """Everything about where a variant runs that its config needs."""

    experiment_id: str
    variant: str
    host: str
    targets: list[ScrapeTarget]
    remote_write_url: str
    ports: dict[str, int]
    scrape_interval_seconds: float = 15.0
    reference: pd.DataFrame | None = None
    """A series inventory with latest values (the baseline's), for keep-lists and checks."""
    remote_write_deadline_seconds: float = 5.0
    remote_write_bearer_token: str | None = None
    remote_write_headers: dict[str, str] = field(default_factory=dict)
    """Credentials for the sink, in clear: they end up in the config the agent runs."""

    @property
    def external_labels(self) -> dict[str, str]:
        """The labels on everything the variant exports (``phoenix_core.wire.labels``)."""
        return identity(self.experiment_id, self.variant, self.host)


@dataclass(frozen=True)
class RenderedConfig:
    """A complete collector config, ready to be served to an agent."""

    collector: CollectorKind
    text: str
    ports: dict[str, int]
    refresh_seconds: int | None = None
    """Set when the config holds keep-lists that must be recomputed and reloaded."""
    notes: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def refuse(index: int, kind: str, collector: CollectorKind, reason: str) -> ValidationFailed:
    """The error for a step a collector cannot run, naming the step and the collector."""
    return ValidationFailed(
        [FieldError(("steps", index), f"{kind} cannot run on {collector.value}: {reason}")]
    )


def reference_forecast(
    pipeline: Pipeline, context: CompileContext, index: int, kind: str, collector: CollectorKind
) -> Forecast:
    """The simulator's run over the reference values, needed by value-dependent steps."""
    if context.reference is None:
        raise refuse(
            index,
            kind,
            collector,
            "it needs reference values (the baseline's latest measurements) to compute its list",
        )
    from phoenix_core.pipelines.inventory import NAME
    from phoenix_core.pipelines.ir import TopK
    from phoenix_core.pipelines.simulator import forecast

    names = set(context.reference[NAME]) if NAME in context.reference.columns else set()
    for at, step in enumerate(pipeline.steps):
        # (an empty reference is a placeholder: validation before any series exists)
        if names and isinstance(step, TopK) and step.metric not in names:
            held = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")
            raise refuse(
                at,
                step.kind,
                collector,
                f"it ranks by {step.metric}, which the baseline's complete series do not have"
                f" ({len(context.reference):,} series of {len(names)} metrics: {held or 'none'})",
            )
    return forecast(pipeline, context.reference)
