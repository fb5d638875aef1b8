"""``/api/v1/hosts``, ``/api/v1/collectors`` and ``/api/v1/tasks``: the fleet, the collectors
placed on it, and its work queue."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel

from phoenix_api.deps import Admin, services
from phoenix_core.store.deployments import DeploymentRepository, PlacedCollector
from phoenix_core.store.hosts import HostRecord, HostRepository
from phoenix_core.wire import TaskStatus

router = APIRouter(prefix="/api/v1", tags=["fleet"])


class QueueStatsPublic(BaseModel):
    depth: dict[TaskStatus, int]
    oldest_pending_seconds: float | None
    pending_per_host: dict[uuid.UUID, int]


@router.get("/hosts", response_model=list[HostRecord])
def hosts(request: Request, include_decommissioned: bool = False) -> list[HostRecord]:
    """Hosts with their status, labels and last heartbeat."""
    with services(request).store.session() as session:
        return list(HostRepository(session).list(include_decommissioned=include_decommissioned))


@router.post("/hosts/{host_id}/decommission", response_model=HostRecord)
def decommission(host_id: uuid.UUID, principal: Admin, request: Request) -> HostRecord:
    """Take a host out of the fleet: no experiment selects it any more."""
    with services(request).store.session() as session:
        return HostRepository(session).decommission(host_id, actor=principal.actor)


@router.get("/collectors", response_model=list[PlacedCollector])
def collectors(request: Request) -> list[PlacedCollector]:
    """The collectors of the experiments that hold hosts now (scheduled to stopping): host,
    experiment, variant, status and restarts as each agent last reported them."""
    with services(request).store.session() as session:
        return DeploymentRepository(session).placed_collectors()


@router.get("/tasks/stats", response_model=QueueStatsPublic)
def task_stats(request: Request) -> QueueStatsPublic:
    """Queue depth per status, oldest pending task's age (seconds), pending tasks per host."""
    stats = services(request).queue.stats()
    return QueueStatsPublic(
        depth=stats.depth,
        oldest_pending_seconds=stats.oldest_pending_seconds,
        pending_per_host=stats.pending_per_host,
    )
