"""``/agent/v1``: what agents call. Host tokens see and change only their own host's tasks."""

from __future__ import annotations

import random
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from phoenix_api.deps import caller, calling_host, services
from phoenix_core.fast_path import AgentWork
from phoenix_core.queue import Report
from phoenix_core.store.agent_data import config_for_host, store_metrics
from phoenix_core.use_cases.enrolment import enrol
from phoenix_core.use_cases.task_reports import apply_report
from phoenix_core.wire import Heartbeat
from phoenix_core.wire.agent_api import (
    MetricsBatch,
    PollResult,
    Registration,
    RegistrationResult,
    StatusReport,
    TaskAssignment,
)

router = APIRouter(prefix="/agent/v1", tags=["agents"])


class Applied(BaseModel):
    applied: bool


class LeasesExtended(BaseModel):
    leases_extended: int


class Stored(BaseModel):
    stored: int


@router.post("/heartbeat", response_model=LeasesExtended)
async def heartbeat(body: Heartbeat, request: Request) -> LeasesExtended:
    """The host is alive: store what it reports and extend the leases of the tasks it holds."""
    host_id = calling_host(request)
    found = services(request)
    lease = found.controller_settings.task_lease_seconds
    extended = await found.fast_path.heartbeat(host_id, body, lease_seconds=lease)
    return LeasesExtended(leases_extended=extended)


@router.get("/tasks", response_model=PollResult)
async def poll(
    request: Request,
    response: Response,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for work.")] = 30,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> PollResult:
    """Claim up to ``limit`` tasks and list the held tasks the agent must stop; with neither,
    wait for work (woken by the enqueue, not by polling). An empty answer comes after between
    80 % and 100 % of ``wait`` seconds, at random: agents that started together (a fleet
    after an API restart) drift apart instead of polling in step. Once the server shuts down
    a poll is answered at once, empty, and claims nothing (``shutdown.py``)."""
    host_id = calling_host(request)
    found = services(request)
    fast_path, lease = found.fast_path, found.controller_settings.task_lease_seconds
    shutdown = found.shutdown
    work = AgentWork([], [])
    with shutdown.holding("long-poll"), found.queue.watch(host_id) as wakeup:
        # (the watch before the claim: no enqueue slips between)
        if not shutdown.begun:
            work = await fast_path.poll(host_id, limit=limit, lease_seconds=lease, waiting=wait > 0)
        if (
            not work.claimed
            and not work.cancellations
            and wait > 0
            and not shutdown.begun
            and await wakeup.wait(wait * random.uniform(0.8, 1.0))  # noqa: S311 (not a secret)
            and not shutdown.begun  # woken by the shutdown: claim nothing
            and not await request.is_disconnected()  # the agent went away: claim nothing for it
        ):
            work = await fast_path.poll(host_id, limit=limit, lease_seconds=lease)
    if shutdown.begun:
        response.headers["Connection"] = "close"  # the next poll goes to the next process
    return PollResult(
        tasks=[
            TaskAssignment(
                id=t.id,
                type=t.type,
                action=t.action,
                payload=t.payload,
                attempt=t.attempt,
                lease_expires_at=t.lease_expires_at,
                experiment_id=t.experiment_id,
            )
            for t in work.claimed
        ],
        cancellations=work.cancellations,
    )


@router.post("/register", response_model=RegistrationResult, status_code=201)
def register(body: Registration, request: Request) -> RegistrationResult:
    """Exchange an enrolment token for this host's own token (shown once)."""
    return enrol(services(request).store, caller(request), body)


@router.post("/tasks/{task_id}/status", response_model=Applied)
def report_status(
    task_id: Annotated[int, Path(ge=1, le=2**53)],
    body: StatusReport,
    request: Request,
) -> Applied:
    """Report a held task's status, fenced by its attempt; a repeat is accepted and changes
    nothing. An applied report is published live (``task_updated``)."""
    host_id = calling_host(request)
    report = Report(task_id, body.attempt, body.status, body.result, body.error_message)
    found = services(request)
    return Applied(applied=apply_report(found.store, found.queue, host_id, report))


@router.get(
    "/configs/{sha256}",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The rendered config."}},
)
def config(sha256: str, request: Request) -> Response:
    """A rendered collector config of this host's, as stored (verify its SHA-256)."""
    host_id = calling_host(request)
    with services(request).store.session() as session:
        content = config_for_host(session, host_id, sha256)
    return Response(
        content, media_type="text/plain; charset=utf-8", headers={"ETag": f'"{sha256}"'}
    )


@router.post("/metrics", response_model=Stored)
def metrics(body: MetricsBatch, request: Request) -> Stored:
    """A bounded batch of the agent's own measurements, into the metrics cache."""
    host_id = calling_host(request)
    with services(request).store.session() as session:
        return Stored(stored=store_metrics(session, host_id, body))
