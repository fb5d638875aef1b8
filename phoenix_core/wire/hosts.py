"""What an agent tells the control plane about its host: heartbeats and active pipelines."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from phoenix_core.wire.tasks import Sha256

__all__ = [
    "ActivePipelineReport",
    "ActivePipelineStatus",
    "Heartbeat",
    "HostStatus",
    "ResourceUsage",
]


class HostStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"


class ActivePipelineStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    CRASH_LOOPING = "crash_looping"
    GONE = "gone"
    """Set by the control plane, never reported: the host's agent had reported this collector
    and its heartbeat no longer lists it, though it was not stopped."""


class ResourceUsage(BaseModel):
    """Host resource usage at heartbeat time (percentages 0–100, memory in bytes)."""

    model_config = ConfigDict(extra="forbid")

    cpu_percent: float = Field(ge=0, le=100 * 4096, allow_inf_nan=False)
    memory_percent: float = Field(ge=0, le=100, allow_inf_nan=False)
    memory_bytes: int = Field(ge=0, le=2**53)
    disk_percent: float = Field(ge=0, le=100, allow_inf_nan=False)


class ActivePipelineReport(BaseModel):
    """One collector the agent supervises, as the agent sees it."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: UUID
    variant: str
    config_sha256: Sha256
    status: ActivePipelineStatus
    pid: int | None = Field(default=None, ge=1, le=2**31 - 1)
    restarts: int = Field(default=0, ge=0, le=2**31 - 1)


class Heartbeat(BaseModel):
    """Sent by the agent at a fixed interval; extends the leases of the tasks it holds."""

    model_config = ConfigDict(extra="forbid")

    agent_version: str = Field(min_length=1)
    status: HostStatus
    active_tasks: list[Annotated[int, Field(ge=1, le=2**53)]] = Field(
        default_factory=list, max_length=10_000
    )
    resource_usage: ResourceUsage | None = None
    active_pipelines: list[ActivePipelineReport] = Field(default_factory=list, max_length=1000)
