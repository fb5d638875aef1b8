"""Turning an experiment into collectors on hosts: pipelines, ports, rendered configs, tasks.

Pure: the spec, its hosts, the ports in use, reference values and the tasks so far in; configs
and tasks out (the controller reads and writes the store). Tasks carry idempotency keys, so a
pass that builds them again (after a crash, say) enqueues nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel

from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.pipelines.collectors import compile_pipeline
from phoenix_core.pipelines.compiler import CompileContext, RenderedConfig, ScrapeTarget
from phoenix_core.pipelines.inventory import NAME, VALUE
from phoenix_core.pipelines.ir import Pipeline
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import NewTask, Task
from phoenix_core.spec import ExperimentSpec, VariantSpec
from phoenix_core.store.deployments import ActivePipelineRecord
from phoenix_core.store.hosts import HostRecord
from phoenix_core.wire import (
    CollectorKind,
    CollectorReloadPayload,
    CollectorStartPayload,
    CollectorStopPayload,
    LoadsimStartPayload,
    LoadsimStopPayload,
    TaskAction,
    TaskStatus,
    TaskType,
)

__all__ = [
    "PORT_NAMES",
    "PREVIEW_LOADSIM_PORT",
    "Deployer",
    "PlannedCollector",
    "needs_reference",
]

PORT_NAMES: dict[CollectorKind, tuple[str, ...]] = {
    CollectorKind.PROMETHEUS_AGENT: ("http",),
    CollectorKind.OTELCOL: ("health", "telemetry"),
}
"""The ports each collector kind gets, by role."""

LOADSIM_MARGIN_SECONDS = 60.0
"""Load runs this much longer than warm-up plus duration, so analysis sees a steady tail."""
PREVIEW_LOADSIM_PORT = 1
"""The load's port in a dry run's configs (a start allocates one on each host)."""


class PlannedCollector(BaseModel):
    """One collector a start would deploy."""

    host: str
    variant: str
    collector: CollectorKind
    config_sha256: str
    refresh_seconds: int | None
    needs_reference: bool
    pipeline: dict[str, Any]


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
                if loadsim_port is None:  # a stored spec from before loadsim needed a load
                    problem = spec.load_problem() or "no port was allocated for the load"
                    raise ValidationFailed([FieldError(("load_profile",), problem)])
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

    def preview(
        self,
        spec: ExperimentSpec,
        hosts: list[HostRecord],
        references: dict[uuid.UUID, pd.DataFrame] | None = None,
    ) -> list[PlannedCollector]:
        """What starting the experiment would deploy: every variant on every host, rendered
        with example ports, from the baseline's inventory on the host where ``references``
        has it (lists from reference values stay empty otherwise)."""
        if problem := spec.load_problem():  # a stored spec from before the spec checked it
            raise ValidationFailed([FieldError(("load_profile",), problem)])
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
                        loadsim_port=PREVIEW_LOADSIM_PORT if spec.load_profile else None,
                        reference=(references or {}).get(host.id, empty),
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

    # --- ports -------------------------------------------------------------------------------

    def collector_ports(
        self, collector: CollectorKind, host_id: uuid.UUID, in_use: set[int]
    ) -> dict[str, int]:
        """A collector's ports on the host, by role (``PORT_NAMES``)."""
        names = PORT_NAMES[collector]
        return dict(zip(names, self.free_ports(host_id, in_use, len(names)), strict=True))

    def free_ports(self, host_id: uuid.UUID, in_use: set[int], count: int) -> list[int]:
        """The lowest ``count`` ports of the configured range not ``in_use`` on the host."""
        free = []
        for port in range(self.settings.port_range_start, self.settings.port_range_end + 1):
            if port not in in_use:
                free.append(port)
                if len(free) == count:
                    return free
        raise NotFound("free port", f"on host {host_id} in the configured range")

    # --- tasks -------------------------------------------------------------------------------

    def start_task(self, placed: ActivePipelineRecord, experiment_id: uuid.UUID) -> NewTask:
        return self._config_task(
            placed,
            experiment_id,
            CollectorStartPayload,
            TaskAction.START,
            key=f"{placed.variant}:start",
        )

    def reload_task(
        self, placed: ActivePipelineRecord, experiment_id: uuid.UUID, sequence: int
    ) -> NewTask:
        """The collector's ``sequence``-th reload (from 0): a keep-list that changes back to an
        earlier config is another reload, not the earlier one again."""
        return self._config_task(
            placed,
            experiment_id,
            CollectorReloadPayload,
            TaskAction.RELOAD,
            key=f"{placed.variant}:reload:{sequence}:{placed.config_sha256}",
        )

    def reloads_due(
        self, placed: list[ActivePipelineRecord], tasks: list[Task], experiment_id: uuid.UUID
    ) -> list[NewTask]:
        """A reload for each collector whose recorded config is not the one its last start or
        reload task carried, once that task has succeeded: reloads of one collector run one
        after the other, the latest config last. Level-triggered: what a pass recorded but did
        not send (it stopped in between) is sent by the next one."""
        sent: dict[tuple[uuid.UUID, str], Task] = {}
        count: dict[tuple[uuid.UUID, str], int] = {}
        for task in tasks:  # oldest first
            variant = task.payload.get("variant")
            if task.type is not TaskType.COLLECTOR or not isinstance(variant, str):
                continue
            key = (task.host_id, variant)
            if task.action in (TaskAction.START, TaskAction.RELOAD):
                sent[key] = task
            if task.action is TaskAction.RELOAD:
                count[key] = count.get(key, 0) + 1
        due = []
        for pipeline in placed:
            key = (pipeline.host_id, pipeline.variant)
            last = sent.get(key)
            if last is None or last.payload.get("config_sha256") == pipeline.config_sha256:
                continue
            if last.status is TaskStatus.SUCCEEDED:
                due.append(self.reload_task(pipeline, experiment_id, count.get(key, 0)))
        return due

    def _config_task(
        self,
        placed: ActivePipelineRecord,
        experiment_id: uuid.UUID,
        payload_type: type[CollectorStartPayload],
        action: TaskAction,
        *,
        key: str,
    ) -> NewTask:
        """A task that hands its rendered config to the collector (start or reload)."""
        payload = payload_type(
            experiment_id=experiment_id,
            variant=placed.variant,
            collector=placed.collector,
            config_sha256=placed.config_sha256,
            config_url=self.settings.config_url_prefix + placed.config_sha256,
            ports=placed.ports,
        )
        return self._task(
            placed.host_id,
            experiment_id,
            type=TaskType.COLLECTOR,
            action=action,
            payload=payload.model_dump(mode="json"),
            key=key,
        )

    def stop_task(self, placed: ActivePipelineRecord, experiment_id: uuid.UUID) -> NewTask:
        payload = CollectorStopPayload(experiment_id=experiment_id, variant=placed.variant)
        return self._task(
            placed.host_id,
            experiment_id,
            type=TaskType.COLLECTOR,
            action=TaskAction.STOP,
            payload=payload.model_dump(mode="json"),
            key=f"{placed.variant}:stop",
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


def needs_reference(pipeline: Pipeline, collector: CollectorKind) -> bool:
    """Whether compiling for ``collector`` needs the baseline's measurements first."""
    kinds = {step.kind for step in pipeline.steps}
    if collector is CollectorKind.PROMETHEUS_AGENT:
        return bool(kinds & {"top_k", "filter_below", "drop_labels"})
    return "top_k" in kinds
