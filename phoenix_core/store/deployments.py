"""Where experiments run, in the store: the hosts each one takes (with its load simulator's
port), the ports in use on a host, and the collectors placed with their rendered configs."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.lifecycle import ACTIVE_STATES, ExperimentState
from phoenix_core.pipelines.compiler import RenderedConfig
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.hosts import HostRecord, HostRepository
from phoenix_core.store.tables import (
    ActivePipelineRow,
    CollectorConfigRow,
    ExperimentHostRow,
    ExperimentRow,
    HostRow,
)
from phoenix_core.store.types import utcnow
from phoenix_core.wire import ActivePipelineStatus, CollectorKind

__all__ = ["ActivePipelineRecord", "DeploymentRepository", "HostsBusy", "PlacedCollector"]


class HostsBusy(Exception):
    """Some target host is taken by another experiment (the experiment keeps waiting)."""


class ActivePipelineRecord(BaseModel):
    """A collector placed for one variant of one experiment on one host."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    host_id: uuid.UUID
    experiment_id: uuid.UUID
    variant: str
    collector: CollectorKind
    config_sha256: str
    ports: dict[str, int]
    status: ActivePipelineStatus
    restarts: int
    rendered_at: datetime | None


class PlacedCollector(BaseModel):
    """A collector as the fleet sees it: on which host, for which experiment and variant, and
    its status and restarts as its agent last reported them (``updated_at``)."""

    model_config = ConfigDict(frozen=True)

    host_id: uuid.UUID
    hostname: str
    experiment_id: uuid.UUID
    experiment_name: str
    experiment_state: ExperimentState
    variant: str
    collector: CollectorKind
    status: ActivePipelineStatus
    restarts: int
    updated_at: datetime


class DeploymentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # --- hosts -------------------------------------------------------------------------------

    def resolve_hosts(self, spec: ExperimentSpec) -> list[HostRecord]:
        """The experiment's hosts: by id or hostname, or every active host matching the selector."""
        hosts = HostRepository(self._session)
        if spec.host_selector is not None:
            chosen = hosts.select(spec.host_selector)
            if not chosen:
                raise ValidationFailed(
                    [FieldError(("host_selector",), "no active host has these labels")]
                )
            return list(chosen)
        assert spec.hosts is not None
        known = hosts.list()
        by_name = {h.hostname: h for h in known}
        by_id = {str(h.id): h for h in known}
        chosen, errors = [], []
        for index, name in enumerate(spec.hosts):
            host = by_id.get(name) or by_name.get(name)
            if host is None:
                errors.append(FieldError(("hosts", index), f"no active host {name!r}"))
            else:
                chosen.append(host)
        if errors:
            raise ValidationFailed(errors)
        return chosen

    def host_ids(self, experiment_id: uuid.UUID) -> set[uuid.UUID]:
        """The hosts the experiment has taken (released or not)."""
        return set(self._session.scalars(self._taken(experiment_id)))

    def hosts(self, experiment_id: uuid.UUID) -> list[HostRecord]:
        """The hosts the experiment has taken, by hostname."""
        ids = self._session.scalars(self._taken(experiment_id)).all()
        hosts = HostRepository(self._session)
        return sorted((hosts.get(i) for i in ids), key=lambda h: h.hostname)

    def take_host(
        self, experiment_id: uuid.UUID, host: HostRecord, *, loadsim_port: int | None
    ) -> None:
        """Mark the host as the experiment's; ``HostsBusy`` if another experiment has it."""
        try:
            with self._session.begin_nested():
                self._session.add(
                    ExperimentHostRow(
                        experiment_id=experiment_id,
                        host_id=host.id,
                        active=True,
                        loadsim_port=loadsim_port,
                        assigned_at=utcnow(),
                    )
                )
        except IntegrityError as exc:
            raise HostsBusy(host.hostname) from exc

    def release_hosts(self, experiment_id: uuid.UUID) -> None:
        """Free the hosts the experiment holds for other experiments."""
        for row in self._session.scalars(
            select(ExperimentHostRow).where(
                ExperimentHostRow.experiment_id == experiment_id, ExperimentHostRow.active
            )
        ):
            row.active = False
            row.released_at = utcnow()

    def _taken(self, experiment_id: uuid.UUID) -> Select[uuid.UUID]:
        return select(ExperimentHostRow.host_id).where(
            ExperimentHostRow.experiment_id == experiment_id
        )

    # --- ports -------------------------------------------------------------------------------

    def loadsim_ports(self, experiment_id: uuid.UUID) -> dict[uuid.UUID, int | None]:
        """The experiment's load simulator port on each of its hosts (None without a load)."""
        rows = self._session.execute(
            select(ExperimentHostRow.host_id, ExperimentHostRow.loadsim_port).where(
                ExperimentHostRow.experiment_id == experiment_id
            )
        ).all()
        return {host_id: port for host_id, port in rows}

    def ports_in_use(self, host_id: uuid.UUID) -> set[int]:
        """The ports active experiments use on the host: their collectors' and load's."""
        active = [state.value for state in ACTIVE_STATES]
        used: set[int] = set()
        pipelines = self._session.scalars(
            select(ActivePipelineRow.ports)
            .join(ExperimentRow, ExperimentRow.id == ActivePipelineRow.experiment_id)
            .where(ActivePipelineRow.host_id == host_id, ExperimentRow.state.in_(active))
        )
        for ports in pipelines:
            used.update(int(p) for p in ports.values())
        used.update(
            port
            for port in self._session.scalars(
                select(ExperimentHostRow.loadsim_port).where(
                    ExperimentHostRow.host_id == host_id, ExperimentHostRow.active
                )
            )
            if port is not None
        )
        return used

    # --- collectors --------------------------------------------------------------------------

    def pipeline(
        self, experiment_id: uuid.UUID, host_id: uuid.UUID, variant: str
    ) -> ActivePipelineRecord | None:
        """The variant's collector on the host, if it was placed."""
        row = self._session.scalar(
            select(ActivePipelineRow).where(
                ActivePipelineRow.experiment_id == experiment_id,
                ActivePipelineRow.host_id == host_id,
                ActivePipelineRow.variant == variant,
            )
        )
        return None if row is None else ActivePipelineRecord.model_validate(row)

    def pipelines(self, experiment_id: uuid.UUID) -> list[ActivePipelineRecord]:
        """Every collector placed for the experiment."""
        rows = self._session.scalars(
            select(ActivePipelineRow).where(ActivePipelineRow.experiment_id == experiment_id)
        ).all()
        return [ActivePipelineRecord.model_validate(row) for row in rows]

    def placed_collectors(self) -> list[PlacedCollector]:
        """The collectors of every experiment that holds hosts now (scheduled to stopping), by
        hostname, then experiment, then variant."""
        query = (
            select(ActivePipelineRow, HostRow.hostname, ExperimentRow.name, ExperimentRow.state)
            .join(HostRow, HostRow.id == ActivePipelineRow.host_id)
            .join(ExperimentRow, ExperimentRow.id == ActivePipelineRow.experiment_id)
            .where(ExperimentRow.state.in_([state.value for state in ACTIVE_STATES]))
            .order_by(HostRow.hostname, ExperimentRow.created_at, ActivePipelineRow.variant)
        )
        return [
            PlacedCollector(
                host_id=row.host_id,
                hostname=hostname,
                experiment_id=row.experiment_id,
                experiment_name=name,
                experiment_state=ExperimentState(state),
                variant=row.variant,
                collector=CollectorKind(row.collector),
                status=ActivePipelineStatus(row.status),
                restarts=row.restarts,
                updated_at=row.updated_at,
            )
            for row, hostname, name, state in self._session.execute(query)
        ]

    def broken_pipelines(self, experiment_id: uuid.UUID) -> list[ActivePipelineRecord]:
        """The experiment's collectors that crash-loop or that their agent no longer lists."""
        rows = self._session.scalars(
            select(ActivePipelineRow).where(
                ActivePipelineRow.experiment_id == experiment_id,
                ActivePipelineRow.status.in_(
                    [ActivePipelineStatus.CRASH_LOOPING.value, ActivePipelineStatus.GONE.value]
                ),
            )
        ).all()
        return [ActivePipelineRecord.model_validate(row) for row in rows]

    def add_pipeline(
        self, experiment_id: uuid.UUID, host_id: uuid.UUID, variant: str, config: RenderedConfig
    ) -> ActivePipelineRecord:
        """Record the variant's collector on the host with its rendered config and ports."""
        self.store_config(config)
        now = utcnow()
        row = ActivePipelineRow(
            host_id=host_id,
            experiment_id=experiment_id,
            variant=variant,
            collector=config.collector.value,
            config_sha256=config.sha256,
            ports=config.ports,
            status=ActivePipelineStatus.STARTING.value,
            restarts=0,
            rendered_at=now,
            created_at=now,
            updated_at=now,
        )
        self._session.add(row)
        self._session.flush()
        return ActivePipelineRecord.model_validate(row)

    def record_render(
        self, pipeline: ActivePipelineRecord, config: RenderedConfig, *, at: datetime
    ) -> ActivePipelineRecord | None:
        """The collector's config was rendered again ``at``; a changed one is stored and
        becomes the collector's. The updated record when it changed, else None."""
        changed = config.sha256 != pipeline.config_sha256
        values: dict[str, object] = {"rendered_at": at}
        if changed:
            self.store_config(config)
            values["config_sha256"] = config.sha256
        self._session.execute(
            update(ActivePipelineRow).where(ActivePipelineRow.id == pipeline.id).values(values)
        )
        return pipeline.model_copy(update=values) if changed else None

    def store_config(self, config: RenderedConfig) -> None:
        """Keep a rendered config by its SHA-256 (the same content is stored once)."""
        if self._session.get(CollectorConfigRow, config.sha256) is None:
            self._session.add(
                CollectorConfigRow(
                    sha256=config.sha256,
                    collector=config.collector.value,
                    content=config.text,
                    created_at=utcnow(),
                )
            )
            self._session.flush()
