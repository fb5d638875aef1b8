"""The agent API's request and response bodies (``/agent/v1``), shared by API and agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from phoenix_core.wire.tasks import TaskAction, TaskStatus, TaskType

__all__ = [
    "MetricSample",
    "MetricsBatch",
    "PollResult",
    "Registration",
    "RegistrationResult",
    "StatusReport",
    "TaskAssignment",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Registration(_Body):
    """An agent enrolling its host (with an enrolment token)."""

    hostname: str = Field(min_length=1, max_length=255)
    agent_version: str = Field(min_length=1, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    ip_address: str | None = Field(default=None, max_length=64)


class RegistrationResult(_Body):
    host_id: UUID
    token: str = Field(description="The host's own token; shown once.")


class TaskAssignment(_Body):
    """A task the agent now holds, until ``lease_expires_at`` unless it sends heartbeats."""

    id: int
    type: TaskType
    action: TaskAction
    payload: dict[str, Any]
    attempt: int
    lease_expires_at: datetime
    experiment_id: UUID | None = None


class PollResult(_Body):
    tasks: list[TaskAssignment] = Field(default_factory=list)
    cancellations: list[int] = Field(
        default_factory=list, description="Held tasks the agent must stop and report cancelled."
    )


class StatusReport(_Body):
    attempt: int = Field(ge=1, le=2**31 - 1)
    status: TaskStatus
    result: dict[str, Any] | None = None
    error_message: str | None = Field(default=None, max_length=4000)


class MetricSample(_Body):
    metric_name: str = Field(min_length=1, max_length=200)
    value: float = Field(allow_inf_nan=False)
    timestamp: datetime
    labels: dict[str, str] = Field(default_factory=dict)
    experiment_id: UUID | None = None
    variant: str | None = Field(default=None, max_length=63)


class MetricsBatch(_Body):
    samples: list[MetricSample] = Field(min_length=1, max_length=1000)
