"""Models shared between the control plane and agents: task payloads, heartbeats, statuses.

Light by contract (import-linter checks it): only the standard library and pydantic, so that a
host with the base install (no pandas, SQLAlchemy, Panel) can import it.
"""

from __future__ import annotations

from phoenix_core.wire.hosts import (
    ActivePipelineReport,
    ActivePipelineStatus,
    Heartbeat,
    HostStatus,
    ResourceUsage,
)
from phoenix_core.wire.tasks import (
    PAYLOAD_MODELS,
    CollectorKind,
    CollectorReloadPayload,
    CollectorStartPayload,
    CollectorStopPayload,
    LoadsimStartPayload,
    LoadsimStopPayload,
    NoopRunPayload,
    TaskAction,
    TaskPayload,
    TaskStatus,
    TaskType,
    parse_payload,
)

__all__ = [
    "PAYLOAD_MODELS",
    "ActivePipelineReport",
    "ActivePipelineStatus",
    "CollectorKind",
    "CollectorReloadPayload",
    "CollectorStartPayload",
    "CollectorStopPayload",
    "Heartbeat",
    "HostStatus",
    "LoadsimStartPayload",
    "LoadsimStopPayload",
    "NoopRunPayload",
    "ResourceUsage",
    "TaskAction",
    "TaskPayload",
    "TaskStatus",
    "TaskType",
    "parse_payload",
]
