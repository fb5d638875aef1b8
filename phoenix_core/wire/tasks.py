"""Task types, statuses and the versioned payload model of every (type, action) pair."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from phoenix_core.errors import FieldError, ValidationFailed

__all__ = [
    "PAYLOAD_MODELS",
    "TERMINAL_TASK_STATUSES",
    "CollectorKind",
    "CollectorReloadPayload",
    "CollectorStartPayload",
    "CollectorStopPayload",
    "LoadsimStartPayload",
    "LoadsimStopPayload",
    "NoopRunPayload",
    "Sha256",
    "TaskAction",
    "TaskPayload",
    "TaskStatus",
    "TaskType",
    "parse_payload",
]


class TaskType(StrEnum):
    COLLECTOR = "collector"
    LOADSIM = "loadsim"
    NOOP = "noop"


class TaskAction(StrEnum):
    START = "start"
    STOP = "stop"
    RELOAD = "reload"
    RUN = "run"


class TaskStatus(StrEnum):
    """``pending → claimed → running → succeeded | failed``; ``cancelled``; ``dead``."""

    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"


TERMINAL_TASK_STATUSES = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.DEAD}
)


class CollectorKind(StrEnum):
    """The collectors Phoenix can render configs for and run."""

    PROMETHEUS_AGENT = "prometheus-agent"
    OTELCOL = "otelcol"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex digits."""


class CollectorStartPayload(_Payload):
    """Start one variant's collector on the host with a config rendered by the control plane."""

    experiment_id: UUID
    variant: str = Field(min_length=1, max_length=63)
    collector: CollectorKind
    config_sha256: Sha256
    config_url: str = Field(min_length=1, description="Where the agent downloads the config.")
    ports: dict[str, int] = Field(default_factory=dict, description="Ports allocated to it.")


class CollectorReloadPayload(CollectorStartPayload):
    """Replace a running collector's config (same shape as a start)."""


class CollectorStopPayload(_Payload):
    """Stop one variant's collector: SIGTERM, grace period, then SIGKILL of its process group."""

    experiment_id: UUID
    variant: str = Field(min_length=1, max_length=63)
    grace_seconds: float = Field(default=10.0, gt=0, le=300)


class LoadsimStartPayload(_Payload):
    """Start a load profile on the host for a bounded time."""

    experiment_id: UUID
    profile: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    duration_seconds: float = Field(gt=0)
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Where the profile's exporter listens, if any."
    )


class LoadsimStopPayload(_Payload):
    """Stop whatever load the experiment started on the host."""

    experiment_id: UUID


class NoopRunPayload(_Payload):
    """Does nothing; used by tests and benchmarks of the task path."""

    note: str = ""


TaskPayload = (
    CollectorStartPayload
    | CollectorReloadPayload
    | CollectorStopPayload
    | LoadsimStartPayload
    | LoadsimStopPayload
    | NoopRunPayload
)

PAYLOAD_MODELS: dict[tuple[TaskType, TaskAction], type[_Payload]] = {
    (TaskType.COLLECTOR, TaskAction.START): CollectorStartPayload,
    (TaskType.COLLECTOR, TaskAction.RELOAD): CollectorReloadPayload,
    (TaskType.COLLECTOR, TaskAction.STOP): CollectorStopPayload,
    (TaskType.LOADSIM, TaskAction.START): LoadsimStartPayload,
    (TaskType.LOADSIM, TaskAction.STOP): LoadsimStopPayload,
    (TaskType.NOOP, TaskAction.RUN): NoopRunPayload,
}


def parse_payload(task_type: str, action: str, data: dict[str, Any]) -> _Payload:
    """Validate ``data`` as the payload of ``task_type/action``; raise ``ValidationFailed``."""
    try:
        model = PAYLOAD_MODELS[(TaskType(task_type), TaskAction(action))]
    except (KeyError, ValueError):
        raise ValidationFailed(
            [FieldError(("action",), f"unknown task type/action '{task_type}/{action}'")]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, prefix=("payload",)) from exc
