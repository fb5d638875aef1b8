"""Hosts in the store: registration, heartbeats, offline detection and decommissioning."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.orm import Session

from phoenix_core.errors import Conflict, NotFound
from phoenix_core.lifecycle import COLLECTING_STATES
from phoenix_core.store.events import EventRepository, announce
from phoenix_core.store.tables import ActivePipelineRow, ApiTokenRow, ExperimentRow, HostRow
from phoenix_core.store.types import utcnow
from phoenix_core.wire import ActivePipelineStatus, Heartbeat, HostStatus

__all__ = [
    "COLLECTING",
    "HEARTBEAT",
    "REPORTED_STATUSES",
    "HostRecord",
    "HostRepository",
    "heartbeat_data",
]

HEARTBEAT = "heartbeat"
REPORTED_STATUSES = [
    s.value
    for s in (
        ActivePipelineStatus.RUNNING,
        ActivePipelineStatus.STOPPING,
        ActivePipelineStatus.FAILED,
        ActivePipelineStatus.CRASH_LOOPING,
    )
]
"""Collector statuses only a heartbeat sets: the agent knew the collector."""
COLLECTING = [state.value for state in COLLECTING_STATES]
_GONE, _STOPPED = ActivePipelineStatus.GONE.value, ActivePipelineStatus.STOPPED.value
"""The live notice of each heartbeat (not an audit event: only a status change is one)."""


def heartbeat_data(hostname: str, heartbeat: Heartbeat) -> dict[str, Any]:
    """What the live ``heartbeat`` notice of a host says."""
    return {
        "hostname": hostname,
        "status": heartbeat.status.value,
        "agent_version": heartbeat.agent_version,
        "resource_usage": (
            heartbeat.resource_usage.model_dump() if heartbeat.resource_usage else None
        ),
        "active_pipelines": [
            {
                "experiment_id": str(p.experiment_id),
                "variant": p.variant,
                "status": p.status.value,
                "restarts": p.restarts,
            }
            for p in heartbeat.active_pipelines
        ],
    }


class HostRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: uuid.UUID
    hostname: str
    ip_address: str | None
    labels: dict[str, str]
    agent_version: str | None
    status: HostStatus
    capabilities: dict[str, Any]
    resource_usage: dict[str, Any] | None
    started_at: datetime | None
    registered_at: datetime
    last_heartbeat: datetime | None
    decommissioned_at: datetime | None

    def matches(self, selector: dict[str, str]) -> bool:
        """True if every label of ``selector`` has the same value on this host."""
        return all(self.labels.get(key) == value for key, value in selector.items())


class HostRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._events = EventRepository(session)

    def register(
        self,
        hostname: str,
        *,
        labels: dict[str, str] | None = None,
        agent_version: str | None = None,
        ip_address: str | None = None,
        capabilities: dict[str, Any] | None = None,
        actor: str,
    ) -> HostRecord:
        now = utcnow()
        row = HostRow(
            id=uuid.uuid4(),
            hostname=hostname,
            labels=labels or {},
            agent_version=agent_version,
            ip_address=ip_address,
            capabilities=capabilities or {},
            status=HostStatus.OFFLINE.value,  # healthy once its first heartbeat arrives
            registered_at=now,
        )
        self._session.add(row)
        self._session.flush()
        self._events.append(
            "host_registered", actor=actor, host_id=row.id, data={"hostname": hostname}
        )
        return HostRecord.model_validate(row)

    def get(self, host_id: uuid.UUID) -> HostRecord:
        return HostRecord.model_validate(self._row(host_id))

    def list(self, *, include_decommissioned: bool = False) -> Sequence[HostRecord]:
        query = select(HostRow).order_by(HostRow.hostname, HostRow.id)
        if not include_decommissioned:
            query = query.where(HostRow.decommissioned_at.is_(None))
        return [HostRecord.model_validate(row) for row in self._session.scalars(query)]

    def count_online(self) -> int:
        """Hosts in the fleet (not decommissioned) whose agent is not offline: one count."""
        return (
            self._session.scalar(
                select(func.count()).where(
                    HostRow.decommissioned_at.is_(None), HostRow.status != HostStatus.OFFLINE.value
                )
            )
            or 0
        )

    def select(self, selector: dict[str, str]) -> Sequence[HostRecord]:
        """Active hosts whose labels match ``selector``."""
        return [host for host in self.list() if host.matches(selector)]

    def record_heartbeat(
        self, host_id: uuid.UUID, heartbeat: Heartbeat, *, at: datetime | None = None
    ) -> HostRecord:
        """Store what the heartbeat says; a status change also appends an event."""
        row = self._row(host_id)
        if row.decommissioned_at is not None:
            raise Conflict(f"Host {host_id} is decommissioned.")
        previous = row.status
        row.status = heartbeat.status.value
        row.agent_version = heartbeat.agent_version
        row.resource_usage = (
            heartbeat.resource_usage.model_dump() if heartbeat.resource_usage else None
        )
        row.last_heartbeat = at or utcnow()
        for report in heartbeat.active_pipelines:
            self._session.execute(
                update(ActivePipelineRow)
                .where(
                    ActivePipelineRow.host_id == host_id,
                    ActivePipelineRow.experiment_id == report.experiment_id,
                    ActivePipelineRow.variant == report.variant,
                    ActivePipelineRow.config_sha256 == report.config_sha256,
                )
                .values(
                    status=report.status.value,
                    pid=report.pid,
                    restarts=report.restarts,
                    updated_at=row.last_heartbeat,
                )
                .execution_options(synchronize_session=False)
            )
        # A collector the agent reported before and lists no more: `stopped` once its
        # experiment no longer collects (the stop tasks ran), else `gone` (the controller
        # fails the experiment). One that was never reported (`starting`) is left alone.
        listed = [(p.experiment_id, p.variant) for p in heartbeat.active_pipelines]
        collecting = select(ExperimentRow.id).where(ExperimentRow.state.in_(COLLECTING))
        self._session.execute(
            update(ActivePipelineRow)
            .where(
                ActivePipelineRow.host_id == host_id,
                ActivePipelineRow.status.in_(REPORTED_STATUSES),
                tuple_(ActivePipelineRow.experiment_id, ActivePipelineRow.variant).not_in(listed),
            )
            .values(
                status=case(
                    (ActivePipelineRow.experiment_id.in_(collecting), _GONE), else_=_STOPPED
                ),
                pid=None,
                updated_at=row.last_heartbeat,
            )
            .execution_options(synchronize_session=False)
        )
        self._session.flush()
        if previous != row.status:
            self._status_event(row, previous, actor=f"agent:{row.hostname}")
        announce(
            self._session,
            HEARTBEAT,
            host_id=host_id,
            data=heartbeat_data(row.hostname, heartbeat),
        )
        return HostRecord.model_validate(row)

    def mark_offline(self, *, stale_before: datetime, actor: str) -> Sequence[HostRecord]:
        """Hosts whose last heartbeat is older than ``stale_before`` become ``offline``."""
        rows = self._session.scalars(
            select(HostRow).where(
                HostRow.decommissioned_at.is_(None),
                HostRow.status != HostStatus.OFFLINE.value,
                HostRow.last_heartbeat < stale_before,
            )
        ).all()
        for row in rows:
            previous = row.status
            row.status = HostStatus.OFFLINE.value
            self._status_event(row, previous, actor=actor)
        self._session.flush()
        return [HostRecord.model_validate(row) for row in rows]

    def decommission(self, host_id: uuid.UUID, *, actor: str) -> HostRecord:
        """Take a host out of the fleet: no experiment selects it, and its agent's token is
        revoked (enrolling it again registers a new host)."""
        row = self._row(host_id)
        if row.decommissioned_at is None:
            row.decommissioned_at = utcnow()
            row.status = HostStatus.OFFLINE.value
            self._session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.host_id == host_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=row.decommissioned_at)
                .execution_options(synchronize_session=False)
            )
            self._session.flush()
            self._events.append("host_decommissioned", actor=actor, host_id=row.id)
        return HostRecord.model_validate(row)

    def _status_event(self, row: HostRow, previous: str, *, actor: str) -> None:
        self._events.append(
            "host_status_changed",
            actor=actor,
            host_id=row.id,
            data={"from": previous, "to": row.status},
        )

    def _row(self, host_id: uuid.UUID) -> HostRow:
        row = self._session.get(HostRow, host_id)
        if row is None:
            raise NotFound("host", host_id)
        return row
