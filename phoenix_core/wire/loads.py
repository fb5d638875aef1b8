"""The load profiles an agent runs for an experiment: each profile's parameters (the
``parameters`` of a ``loadsim/start`` task; the spec checks them, the agent runs them) and the
series the exporter profiles serve, which a ``loadsim`` source scrapes and a dry run forecasts.

``high-cardinality`` serves ``series`` simulated processes (labels ``process`` and ``pid``) for
each of ``metrics`` families, with fixed values (process ``i`` has CPU ``1000 / (i + 1)``);
``spike`` is the same exporter jumping to ``burst_series``. ``realistic`` (stress-ng),
``process-churn`` and ``custom`` serve no series: they load the host, which other sources
(node-exporter) measure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FAMILIES",
    "PARAMETERS",
    "PROCESS_LABELS",
    "SERVING_PROFILES",
    "CustomParameters",
    "HighCardinalityParameters",
    "ProcessChurnParameters",
    "RealisticParameters",
    "SpikeParameters",
    "process_labels",
]

FAMILIES: tuple[tuple[str, str, Callable[[int], float]], ...] = (
    ("process_cpu_seconds_total", "counter", lambda i: 1000.0 / (i + 1)),
    ("process_resident_memory_bytes", "gauge", lambda i: 1_000_000.0 * (i % 97 + 1)),
    ("process_open_fds", "gauge", lambda i: float(i % 50)),
    ("process_io_read_bytes_total", "counter", lambda i: 1000.0 * i),
)
"""The exporter's families as scraped (counters with ``_total``), their type, and the value of
process ``i``."""

PROCESS_LABELS = ("process", "pid")


def process_labels(generation: int, index: int) -> tuple[str, str]:
    """The ``process`` and ``pid`` of simulated process ``index`` (``generation`` counts the
    renames of ``churn_seconds``)."""
    return f"proc-{generation}-{index:05d}", str(10_000 + index)


class HighCardinalityParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series: int = Field(default=500, ge=1, le=200_000, description="Processes per metric.")
    metrics: int = Field(default=4, ge=1, le=len(FAMILIES))
    churn_seconds: float = Field(default=0, ge=0, description="Rename processes this often.")


class SpikeParameters(HighCardinalityParameters):
    """High cardinality that jumps to ``burst_series`` for ``burst_seconds`` of every
    ``every_seconds``."""

    series: int = Field(default=200, ge=1, le=200_000)
    burst_series: int = Field(default=1000, ge=1, le=200_000)
    every_seconds: float = Field(default=60, gt=0)
    burst_seconds: float = Field(default=10, gt=0)


class ProcessChurnParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=5, gt=0, le=500, description="Processes started per second.")
    lifetime_seconds: float = Field(default=1, gt=0, le=3600)


class CustomParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: Path = Field(description="An executable on the agent's allow-list.")


class RealisticParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_workers: int = Field(default=1, ge=1, le=64)
    cpu_load: int = Field(default=30, ge=1, le=100, description="Percent per CPU worker.")
    vm_bytes: str = Field(default="64M", pattern=r"^\d+[KMG]?$")


PARAMETERS: dict[str, type[BaseModel]] = {
    "high-cardinality": HighCardinalityParameters,
    "spike": SpikeParameters,
    "realistic": RealisticParameters,
    "process-churn": ProcessChurnParameters,
    "custom": CustomParameters,
}
"""Each profile an agent runs, by name, and the model of its parameters."""

SERVING_PROFILES = ("high-cardinality", "spike")
"""The profiles that serve series on the port the controller allocates (a ``loadsim`` source's
target); the others serve nothing."""
