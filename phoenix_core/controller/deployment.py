"""Turning an experiment into collectors on hosts: hosts, ports, rendered configs, tasks.

Everything here is derived from the stored experiment and is idempotent: each pass of the
controller may call it again (after a crash, say) and ends in the same rows and tasks, because
tasks carry idempotency keys and rows are looked up before they are created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.clock import utcnow
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.lifecycle import ACTIVE_STATES
from phoenix_core.pipelines.collectors import compile_pipeline
from phoenix_core.pipelines.compiler import CompileContext, RenderedConfig, ScrapeTarget
from phoenix_core.pipelines.inventory import NAME, VALUE
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import NewTask
from phoenix_core.spec import ExperimentSpec, VariantSpec
from phoenix_core.store.hosts import HostRecord, HostRepository
from phoenix_core.store.tables import (
    ActivePipelineRow,
    CollectorConfigRow,
    ExperimentHostRow,
    ExperimentRow,
)
from phoenix_core.wire import (
    CollectorKind,
    CollectorReloadPayload,
    CollectorStartPayload,
    CollectorStopPayload,
    LoadsimStartPayload,
    LoadsimStopPayload,
    TaskAction,
    TaskType,
)

__all__ = [
    "PORT_NAMES",
    "Deployer",
    "HostsBusy",
    "PlannedCollector",
    "needs_reference",
    "store_config",
]

PORT_NAMES: dict[CollectorKind, tuple[str, ...]] = {
    CollectorKind.PROMETHEUS_AGENT: ("http",),
    CollectorKind.OTELCOL: ("health", "telemetry"),
}
"""The ports each collector kind gets, by role."""

LOADSIM_MARGIN_SECONDS = 60.0
"""Load runs this much longer than warm-up plus duration, so analysis sees a steady tail."""


class PlannedCollector(BaseModel):
    """One collector a start would deploy."""

    host: str
    variant: str
    collector: CollectorKind
    config_sha256: str
    refresh_seconds: int | None
    needs_reference: bool
    pipeline: dict[str, Any]


class HostsBusy(Exception):
    """Some target host is taken by another experiment (the experiment keeps waiting)."""


@dataclass(frozen=True)
class Deployer:
    settings: ControllerSettings
    library: TemplateLibrary

    # --- what an experiment means -------------------------------------------------------------

    def pipeline(self, spec: ExperimentSpec, variant: VariantSpec) -> Pipeline:
        """The variant's pipeline; the experiment's critical selectors feed a ``critical``
        variable the variant leaves unset."""
        template = self.library.get(variant.template, variant.template_version)
        variables = dict(variant.variables)
        if "critical" in template.variables and "critical" not in variables:
            variables["critical"] = list(spec.critical_selectors)
        return template.render(variables)

    def targets(self, spec: ExperimentSpec, loadsim_port: int | None) -> list[ScrapeTarget]:
        targets = []
        for source in spec.sources:
            if source.kind == "loadsim":
                if loadsim_port is None:
                    continue  # no load profile: nothing serves the load simulator's metrics
                address = f"127.0.0.1:{loadsim_port}"
            elif source.kind == "node-exporter":
                address = self.settings.node_exporter_address
            else:
                assert source.address is not None
                address = source.address
            targets.append(ScrapeTarget(source.name, address, source.metrics_path))
        return targets

    def render(
        self,
        *,
        experiment_id: uuid.UUID,
        spec: ExperimentSpec,
        variant: VariantSpec,
        host: HostRecord,
        ports: dict[str, int],
        loadsim_port: int | None,
        reference: pd.DataFrame | None,
    ) -> RenderedConfig:
        context = CompileContext(
            experiment_id=str(experiment_id),
            variant=variant.name,
            host=host.hostname,
            targets=self.targets(spec, loadsim_port),
            remote_write_url=spec.sink.url or self.settings.remote_write_url,
            remote_write_bearer_token=(
                spec.sink.bearer_token.get_secret_value() if spec.sink.bearer_token else None
            ),
            remote_write_headers={
                name: secret.get_secret_value() for name, secret in spec.sink.headers.items()
            },
            ports=ports,
            scrape_interval_seconds=self.settings.scrape_interval_seconds,
            reference=reference,
        )
        return compile_pipeline(spec.collector, self.pipeline(spec, variant), context)

    def preview(self, spec: ExperimentSpec, hosts: list[HostRecord]) -> list[PlannedCollector]:
        """What starting the experiment would deploy: every variant on every host, rendered
        with example ports (lists from reference values stay empty until the baseline runs)."""
        empty = pd.DataFrame({NAME: pd.Series([], dtype=str), VALUE: pd.Series([], dtype=float)})
        names = PORT_NAMES[spec.collector]
        ports = {name: self.settings.port_range_start + i for i, name in enumerate(names)}
        planned = []
        for index, variant in enumerate(spec.variants):
            try:
                pipeline = self.pipeline(spec, variant)
            except NotFound as exc:
                raise ValidationFailed(
                    [FieldError(("variants", index, "template"), str(exc))]
                ) from exc
            except ValidationFailed as exc:
                raise ValidationFailed(
                    [FieldError(("variants", index, *e.loc), e.message) for e in exc.errors]
                ) from exc
            for host in hosts:
                try:
                    config = self.render(
                        experiment_id=uuid.UUID(int=0),
                        spec=spec,
                        variant=variant,
                        host=host,
                        ports=ports,
                        loadsim_port=1 if spec.load_profile else None,
                        reference=empty,
                    )
                except ValidationFailed as exc:
                    raise ValidationFailed(
                        [FieldError(("variants", index, *e.loc), e.message) for e in exc.errors]
                    ) from exc
                planned.append(
                    PlannedCollector(
                        host=host.hostname,
                        variant=variant.name,
                        collector=spec.collector,
                        config_sha256=config.sha256,
                        refresh_seconds=config.refresh_seconds,
                        needs_reference=needs_reference(pipeline, spec.collector),
                        pipeline=pipeline.to_document(),
                    )
                )
        return planned

    def validate(self, spec: ExperimentSpec, hosts: list[HostRecord]) -> None:
        """Render every variant for every host as far as possible before anything starts;
        a refusal names the variant and the step."""
        self.preview(spec, hosts)

    # --- hosts and ports ---------------------------------------------------------------------

    def resolve_hosts(self, session: Session, spec: ExperimentSpec) -> list[HostRecord]:
        """The experiment's hosts: by id or hostname, or every active host matching the selector."""
        hosts = HostRepository(session)
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

    def take_hosts(
        self,
        session: Session,
        experiment_id: uuid.UUID,
        spec: ExperimentSpec,
        hosts: list[HostRecord],
    ) -> None:
        """Mark the hosts as this experiment's; ``HostsBusy`` if another one has any of them."""
        taken = set(
            session.scalars(
                select(ExperimentHostRow.host_id).where(
                    ExperimentHostRow.experiment_id == experiment_id
                )
            )
        )
        for host in hosts:
            if host.id in taken:
                continue
            port = self._free_ports(session, host.id, 1)[0] if spec.load_profile else None
            try:
                with session.begin_nested():
                    session.add(
                        ExperimentHostRow(
                            experiment_id=experiment_id,
                            host_id=host.id,
                            active=True,
                            loadsim_port=port,
                            assigned_at=utcnow(),
                        )
                    )
            except IntegrityError as exc:
                raise HostsBusy(host.hostname) from exc

    def release_hosts(self, session: Session, experiment_id: uuid.UUID) -> None:
        for row in session.scalars(
            select(ExperimentHostRow).where(
                ExperimentHostRow.experiment_id == experiment_id, ExperimentHostRow.active
            )
        ):
            row.active = False
            row.released_at = utcnow()

    def loadsim_ports(
        self, session: Session, experiment_id: uuid.UUID
    ) -> dict[uuid.UUID, int | None]:
        rows = session.execute(
            select(ExperimentHostRow.host_id, ExperimentHostRow.loadsim_port).where(
                ExperimentHostRow.experiment_id == experiment_id
            )
        ).all()
        return {host_id: port for host_id, port in rows}

    def _free_ports(self, session: Session, host_id: uuid.UUID, count: int) -> list[int]:
        """The lowest ``count`` ports of the range that no active experiment uses on the host."""
        active = [state.value for state in ACTIVE_STATES]
        used: set[int] = set()
        pipelines = session.scalars(
            select(ActivePipelineRow.ports)
            .join(ExperimentRow, ExperimentRow.id == ActivePipelineRow.experiment_id)
            .where(ActivePipelineRow.host_id == host_id, ExperimentRow.state.in_(active))
        )
        for ports in pipelines:
            used.update(int(p) for p in ports.values())
        used.update(
            port
            for port in session.scalars(
                select(ExperimentHostRow.loadsim_port).where(
                    ExperimentHostRow.host_id == host_id, ExperimentHostRow.active
                )
            )
            if port is not None
        )
        free = []
        for port in range(self.settings.port_range_start, self.settings.port_range_end + 1):
            if port not in used:
                free.append(port)
                if len(free) == count:
                    return free
        raise NotFound("free port", f"on host {host_id} in the configured range")

    # --- collectors --------------------------------------------------------------------------

    def pipeline_row(
        self, session: Session, experiment_id: uuid.UUID, host_id: uuid.UUID, variant: str
    ) -> ActivePipelineRow | None:
        return session.scalar(
            select(ActivePipelineRow).where(
                ActivePipelineRow.experiment_id == experiment_id,
                ActivePipelineRow.host_id == host_id,
                ActivePipelineRow.variant == variant,
            )
        )

    def place(
        self,
        *,
        session: Session,
        experiment_id: uuid.UUID,
        spec: ExperimentSpec,
        variant: VariantSpec,
        host: HostRecord,
        reference: pd.DataFrame | None,
    ) -> ActivePipelineRow:
        """Allocate the variant's ports on the host, render its config and record it."""
        ports = dict(
            zip(
                PORT_NAMES[spec.collector],
                self._free_ports(session, host.id, len(PORT_NAMES[spec.collector])),
                strict=True,
            )
        )
        loadsim_port = self.loadsim_ports(session, experiment_id).get(host.id)
        config = self.render(
            experiment_id=experiment_id,
            spec=spec,
            variant=variant,
            host=host,
            ports=ports,
            loadsim_port=loadsim_port,
            reference=reference,
        )
        store_config(session, config)
        now = utcnow()
        row = ActivePipelineRow(
            host_id=host.id,
            experiment_id=experiment_id,
            variant=variant.name,
            collector=spec.collector.value,
            config_sha256=config.sha256,
            ports=ports,
            status="starting",
            restarts=0,
            rendered_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return row

    def start_task(self, row: ActivePipelineRow, experiment_id: uuid.UUID) -> NewTask:
        return self._config_task(
            row, experiment_id, CollectorStartPayload, TaskAction.START, key=f"{row.variant}:start"
        )

    def reload_task(self, row: ActivePipelineRow, experiment_id: uuid.UUID) -> NewTask:
        return self._config_task(
            row,
            experiment_id,
            CollectorReloadPayload,
            TaskAction.RELOAD,
            key=f"{row.variant}:reload:{row.config_sha256}",
        )

    def _config_task(
        self,
        row: ActivePipelineRow,
        experiment_id: uuid.UUID,
        payload_type: type[CollectorStartPayload],
        action: TaskAction,
        *,
        key: str,
    ) -> NewTask:
        """A task that hands the row's rendered config to the collector (start or reload)."""
        payload = payload_type(
            experiment_id=experiment_id,
            variant=row.variant,
            collector=CollectorKind(row.collector),
            config_sha256=row.config_sha256,
            config_url=self.settings.config_url_prefix + row.config_sha256,
            ports=row.ports,
        )
        return self._task(
            row.host_id,
            experiment_id,
            type=TaskType.COLLECTOR,
            action=action,
            payload=payload.model_dump(mode="json"),
            key=key,
        )

    def stop_task(self, row: ActivePipelineRow, experiment_id: uuid.UUID) -> NewTask:
        payload = CollectorStopPayload(experiment_id=experiment_id, variant=row.variant)
        return self._task(
            row.host_id,
            experiment_id,
            type=TaskType.COLLECTOR,
            action=TaskAction.STOP,
            payload=payload.model_dump(mode="json"),
            key=f"{row.variant}:stop",
            priority=10,
        )

    def loadsim_tasks(
        self,
        experiment_id: uuid.UUID,
        spec: ExperimentSpec,
        ports: dict[uuid.UUID, int | None],
        *,
        start: bool,
    ) -> list[NewTask]:
        """Start (or stop) the experiment's load on each of its hosts, when it has a profile."""
        if spec.load_profile is None:
            return []
        tasks = []
        for host_id, port in sorted(ports.items()):
            if start:
                payload: LoadsimStartPayload | LoadsimStopPayload = LoadsimStartPayload(
                    experiment_id=experiment_id,
                    profile=spec.load_profile.name.value,
                    parameters=spec.load_profile.parameters,
                    port=port,
                    duration_seconds=spec.warmup_seconds
                    + spec.duration_seconds
                    + LOADSIM_MARGIN_SECONDS,
                )
            else:
                payload = LoadsimStopPayload(experiment_id=experiment_id)
            action = TaskAction.START if start else TaskAction.STOP
            tasks.append(
                self._task(
                    host_id,
                    experiment_id,
                    type=TaskType.LOADSIM,
                    action=action,
                    payload=payload.model_dump(mode="json"),
                    key=f"loadsim:{action.value}",
                    priority=0 if start else 10,
                )
            )
        return tasks

    def _task(
        self,
        host_id: uuid.UUID,
        experiment_id: uuid.UUID,
        *,
        type: TaskType,
        action: TaskAction,
        payload: dict[str, object],
        key: str,
        priority: int = 0,
    ) -> NewTask:
        return NewTask(
            host_id=host_id,
            experiment_id=experiment_id,
            type=type,
            action=action,
            payload=payload,
            priority=priority,
            max_attempts=self.settings.task_max_attempts,
            idempotency_key=f"{experiment_id}:{host_id}:{key}",
        )


def store_config(session: Session, config: RenderedConfig) -> None:
    """Keep a rendered config by its SHA-256 (the same content is stored once)."""
    if session.get(CollectorConfigRow, config.sha256) is None:
        session.add(
            CollectorConfigRow(
                sha256=config.sha256,
                collector=config.collector.value,
                content=config.text,
                created_at=utcnow(),
            )
        )
        session.flush()


def needs_reference(pipeline: Pipeline, collector: CollectorKind) -> bool:
    """Whether compiling for ``collector`` needs the baseline's measurements first."""
    kinds = {step.kind for step in pipeline.steps}
    if collector is CollectorKind.PROMETHEUS_AGENT:
        return bool(kinds & {"top_k", "filter_below", "drop_labels"})
    return "top_k" in kinds
