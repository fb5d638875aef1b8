"""The controller: moves every experiment along its lifecycle, from task results and timers.

Level-triggered: each pass reads the stored state and does what is missing, so a pass may be
repeated, interrupted or run by another process after a crash. Exactly one process runs passes
per database (``Leadership``). Every transition is the store's compare-and-set plus an event.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from phoenix_core.clock import utcnow
from phoenix_core.controller.analysis import Analyzer
from phoenix_core.controller.deployment import Deployer, needs_reference
from phoenix_core.controller.leadership import Leadership
from phoenix_core.controller.outage import MetricsOutage
from phoenix_core.controller.reference import Reference, ReferenceSource
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.errors import (
    Conflict,
    DatabaseError,
    FieldError,
    PhoenixError,
    ValidationFailed,
)
from phoenix_core.lifecycle import (
    ACTIVE_STATES,
    COLLECTING_STATES,
    TERMINAL_STATES,
    ExperimentState,
    Verdict,
)
from phoenix_core.metrics.reader import MetricsUnavailable
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import NewTask, Task, TaskQueue
from phoenix_core.spec import VariantSpec
from phoenix_core.store.agent_data import purge_metrics
from phoenix_core.store.deployments import ActivePipelineRecord, DeploymentRepository, HostsBusy
from phoenix_core.store.events import EventRepository
from phoenix_core.store.experiments import (
    ExperimentRecord,
    ExperimentRepository,
    MeasurementWindow,
)
from phoenix_core.store.hosts import HostRecord, HostRepository
from phoenix_core.store.session import Store
from phoenix_core.wire import ActivePipelineStatus, HostStatus, TaskAction, TaskStatus, TaskType

__all__ = ["Controller"]

log = logging.getLogger(__name__)

FAILED_TASK = (TaskStatus.FAILED, TaskStatus.DEAD)
DEPLOY_WAITING = "deploy_waiting"
"""The event saying what a variant waits for on a host before it can be deployed."""
CONFIG_REFRESHED = "config_refreshed"
"""The event saying that a refresh changed a variant's config on a host (a reload follows)."""


@dataclass
class Controller:
    store: Store
    queue: TaskQueue
    settings: ControllerSettings
    reference: ReferenceSource
    library: TemplateLibrary
    analyzer: Analyzer
    instance: str = f"{socket.gethostname()}:{os.getpid()}"

    def __post_init__(self) -> None:
        self.deployer = Deployer(self.settings, self.library)
        self.leadership = Leadership(self.store.engine)
        self._last_purge: datetime | None = None
        self._waiting: dict[tuple[uuid.UUID, str, uuid.UUID], str] = {}  # deploying ones only
        self._references: dict[tuple[uuid.UUID, uuid.UUID], Reference] = {}
        self._outage = MetricsOutage(
            self.reference, self.settings.prometheus_url, self.settings.metrics_outage_seconds
        )

    @classmethod
    def build(
        cls,
        store: Store,
        queue: TaskQueue,
        settings: ControllerSettings,
        analyzer: Analyzer | None = None,
    ) -> Controller:
        """The production wiring: reference values and measurements from Prometheus (and the
        agents' metrics cache), the built-in templates."""
        from phoenix_core.controller.reference import PrometheusReference
        from phoenix_core.metrics.reader import PrometheusReader
        from phoenix_core.use_cases.analysis import Analyses

        reference = PrometheusReference(
            PrometheusReader(settings.prometheus_url, timeout=10),
            settings.scrape_interval_seconds,
        )
        analyses = analyzer or Analyses.from_prometheus(
            store, settings.prometheus_url, settings.scrape_interval_seconds
        )
        return cls(store, queue, settings, reference, TemplateLibrary.builtin(), analyses)

    @property
    def actor(self) -> str:
        return f"controller@{self.instance}"

    # --- entry points ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Pass after pass while this process leads, until ``stop`` is set."""
        try:
            while not stop.is_set():
                if self.leadership.acquire():
                    try:
                        self.reconcile_once()
                    except PhoenixError as exc:
                        log.warning("controller pass failed: %s", exc)
                stop.wait(self.settings.interval_seconds)
        finally:
            self.leadership.release()

    def reconcile_once(self, now: datetime | None = None) -> None:
        """One pass over every experiment that is not finished."""
        now = now or utcnow()
        self.queue.reap()
        if self._last_purge is None or now - self._last_purge >= timedelta(hours=1):
            retention = timedelta(days=self.settings.task_retention_days)
            purged = self.queue.purge_finished(retention, at=now)
            with self.store.session() as session:
                samples = purge_metrics(
                    session, now - timedelta(days=self.settings.metrics_retention_days)
                )
            if purged or samples:
                log.info("retention: deleted %d finished tasks, %d metric samples", purged, samples)
            self._last_purge = now
        with self.store.session() as session:
            HostRepository(session).mark_offline(
                stale_before=now - timedelta(seconds=self.settings.heartbeat_timeout_seconds),
                actor=self.actor,
            )
        records = self._experiments()
        deploying = {r.id for r in records if r.state is ExperimentState.DEPLOYING}
        self._waiting = {k: why for k, why in self._waiting.items() if k[0] in deploying}
        self._references = {}  # read afresh each pass
        if deploying:
            self._outage.check(now)
        else:
            self._outage.forget()
        for record in records:
            try:
                self._advance(record, now)
            except Conflict as exc:  # someone else moved it first; the next pass sees the new state
                log.info("experiment %s changed under the controller: %s", record.id, exc)

    # --- one experiment ----------------------------------------------------------------------

    def _experiments(self) -> Sequence[ExperimentRecord]:
        with self.store.session() as session:
            return ExperimentRepository(session).in_hand(ACTIVE_STATES)

    def _advance(self, record: ExperimentRecord, now: datetime) -> None:
        if record.state in TERMINAL_STATES:
            self._release_when_stopped(record)
            return
        if record.state is ExperimentState.SCHEDULED:
            self._schedule(record)
            return
        tasks = self.queue.tasks_of(record.id)
        if (
            record.state is not ExperimentState.STOPPING
        ):  # a user's stop ends in 'stopped' whatever failed
            reason = self._failure(record, tasks, now)
            if reason is not None:
                self._fail(record, reason)
                return
        elapsed = (now - record.state_changed_at).total_seconds()
        if record.state is ExperimentState.DEPLOYING:
            self._deploy(record, tasks, now, elapsed)
        elif record.state in (ExperimentState.WARMING_UP, ExperimentState.RUNNING):
            self._collect(record, tasks, now, elapsed)
        elif record.state is ExperimentState.ANALYZING:
            self._analyze(record, elapsed)
        elif record.state is ExperimentState.STOPPING:
            self._issue_stops(record)
            if self._stops_done(record):
                self._move(record, ExperimentState.STOPPED)

    def _collect(
        self, record: ExperimentRecord, tasks: list[Task], now: datetime, elapsed: float
    ) -> None:
        """Warming up or running: keep-lists refreshed, then on when the time is up."""
        if not self._refresh_keep_lists(record, tasks, now):
            return
        if record.state is ExperimentState.WARMING_UP:
            if elapsed >= record.spec.warmup_seconds:
                self._move(record, ExperimentState.RUNNING)
        elif elapsed >= record.spec.duration_seconds:
            window = self._measurement_window(record, now)
            self._issue_stops(record)
            self._move(record, ExperimentState.ANALYZING, measurement_window=window)

    def _analyze(self, record: ExperimentRecord, elapsed: float) -> None:
        """Once the collectors' last writes can have arrived, judge; if the measurements
        cannot be read, try again each pass until the timeout, then complete inconclusive."""
        if elapsed < self.settings.analysis_settle_seconds:
            return
        try:
            result = self.analyzer.analyze(record)
        except (MetricsUnavailable, DatabaseError) as exc:
            if elapsed < self.settings.analysis_timeout_seconds:
                log.warning("analysis of %s failed, trying again: %s", record.id, exc)
                return
            waited = self.settings.analysis_timeout_seconds
            reasons = [f"the measurements could not be read within {waited:g} s: {exc}"]
            self._move(
                record, ExperimentState.COMPLETED, verdict=Verdict.INCONCLUSIVE, reasons=reasons
            )
            return
        except PhoenixError as exc:  # nothing a retry would change (a window too short)
            reasons = [f"the experiment could not be analysed: {exc}"]
            self._move(
                record, ExperimentState.COMPLETED, verdict=Verdict.INCONCLUSIVE, reasons=reasons
            )
            return
        self._move(
            record, ExperimentState.COMPLETED, verdict=result.verdict, reasons=result.reasons
        )

    def _schedule(self, record: ExperimentRecord) -> None:
        try:
            with self.store.session() as session:
                deployments = DeploymentRepository(session)
                hosts = deployments.resolve_hosts(record.spec)
                taken = deployments.host_ids(record.id)
                for host in hosts:
                    if host.id in taken:
                        continue
                    port = None
                    if record.spec.load_profile:
                        in_use = deployments.ports_in_use(host.id)
                        port = self.deployer.free_ports(host.id, in_use, 1)[0]
                    deployments.take_host(record.id, host, loadsim_port=port)
        except HostsBusy as busy:
            log.debug("experiment %s waits for host %s", record.id, busy)
            return
        except ValidationFailed as exc:  # hosts vanished since it was started
            self._fail(record, str(exc))
            return
        self._move(record, ExperimentState.DEPLOYING)

    def _deploy(
        self, record: ExperimentRecord, tasks: list[Task], now: datetime, elapsed: float
    ) -> None:
        """Place every variant on every host (candidates that need reference values once the
        baseline has measurements), start them, and move on when every start succeeded."""
        outage = self._outage.reason(now)
        if outage:
            self._fail(record, outage)
            return
        new: list[NewTask] = []
        waiting: list[str] = []
        refused = ""
        with self.store.session() as session:
            deployments = DeploymentRepository(session)
            hosts = deployments.hosts(record.id)
            loadsim = deployments.loadsim_ports(record.id)
            new += self.deployer.loadsim_tasks(record.id, record.spec, loadsim, start=True)
            for host in hosts:
                for variant in record.spec.variants:
                    placed: ActivePipelineRecord | str | None = deployments.pipeline(
                        record.id, host.id, variant.name
                    )
                    if placed is None:
                        try:
                            placed = self._place(deployments, record, variant, host, loadsim)
                        except ValidationFailed as exc:  # refused once its inventory is known
                            refused = f"variant {variant.name} on host {host.hostname}: {exc}"
                            break
                    if isinstance(placed, str):
                        waiting.append(f"{variant.name} on {host.hostname} ({placed})")
                        self._note_waiting(session, record, variant.name, host, placed)
                    else:
                        new.append(self.deployer.start_task(placed, record.id))
                if refused:
                    break
        if refused:
            self._fail(record, refused)
            return
        self._enqueue_missing(tasks, new)
        starts = [t for t in self.queue.tasks_of(record.id) if t.action is TaskAction.START]
        if (
            not waiting
            and len(starts) == len(new)
            and all(t.status is TaskStatus.SUCCEEDED for t in starts)
        ):
            self._move(record, ExperimentState.WARMING_UP)
        elif elapsed >= self.settings.deploy_timeout_seconds:
            pending = waiting + [
                _describe(t) for t in starts if t.status is not TaskStatus.SUCCEEDED
            ]
            self._fail(
                record,
                f"deploy timed out after {self.settings.deploy_timeout_seconds:.0f} s waiting "
                f"for: {', '.join(pending)}",
            )

    def _place(
        self,
        deployments: DeploymentRepository,
        record: ExperimentRecord,
        variant: VariantSpec,
        host: HostRecord,
        loadsim: dict[uuid.UUID, int | None],
    ) -> ActivePipelineRecord | str:
        """Allocate the variant's ports on the host, render its config and record it; or what
        it waits for (the baseline's complete inventory). ``ValidationFailed`` when the
        collector refuses a step once the inventory is known."""
        reference = None
        if needs_reference(self.deployer.pipeline(record.spec, variant), record.spec.collector):
            found = self._reference(record, host)
            if found.refused:
                raise ValidationFailed([FieldError(("sources",), found.refused)])
            if found.inventory is None:
                return found.waiting_for
            reference = found.inventory
        in_use = deployments.ports_in_use(host.id)
        config = self.deployer.render(
            experiment_id=record.id,
            spec=record.spec,
            variant=variant,
            host=host,
            ports=self.deployer.collector_ports(record.spec.collector, host.id, in_use),
            loadsim_port=loadsim.get(host.id),
            reference=reference,
        )
        return deployments.add_pipeline(record.id, host.id, variant.name, config)

    def _refresh_keep_lists(
        self, record: ExperimentRecord, tasks: list[Task], now: datetime
    ) -> bool:
        """Recompute value-dependent lists from the baseline every refresh interval, and send
        each collector whose config changed a reload. False when the experiment failed: its
        collector refuses a step on the baseline's new inventory (a drop on prometheus-agent
        that now merges series; a top-k metric the baseline no longer has)."""
        refused = ""
        with self.store.session() as session:
            deployments = DeploymentRepository(session)
            hosts = deployments.hosts(record.id)
            loadsim = deployments.loadsim_ports(record.id)
            for variant in record.spec.candidates:
                pipeline = self.deployer.pipeline(record.spec, variant)
                if not needs_reference(pipeline, record.spec.collector):
                    continue
                for host in hosts:
                    placed = deployments.pipeline(record.id, host.id, variant.name)
                    due = placed is not None and (
                        placed.rendered_at is None
                        or (now - placed.rendered_at).total_seconds() >= pipeline.refresh_seconds
                    )
                    if not due or placed is None:
                        continue
                    reference = self._reference(record, host).inventory
                    if reference is None:
                        continue
                    try:
                        config = self.deployer.render(
                            experiment_id=record.id,
                            spec=record.spec,
                            variant=variant,
                            host=host,
                            ports=placed.ports,
                            loadsim_port=loadsim.get(host.id),
                            reference=reference,
                        )
                    except ValidationFailed as exc:
                        where = f"variant {variant.name} on host {host.hostname}"
                        refused = refused or f"{where}: {exc}"
                        continue
                    changed = deployments.record_render(placed, config, at=now)
                    if changed is not None:
                        self._note_refreshed(session, record, placed, changed, host)
            placed_all = deployments.pipelines(record.id)
        if refused:
            self._fail(record, f"a refresh of its keep-lists was refused: {refused}")
            return False
        reloads = self.deployer.reloads_due(placed_all, tasks, record.id)
        if reloads:
            self.queue.enqueue(reloads)
        return True

    def _note_refreshed(
        self,
        session: Session,
        record: ExperimentRecord,
        before: ActivePipelineRecord,
        after: ActivePipelineRecord,
        host: HostRecord,
    ) -> None:
        EventRepository(session).append(
            CONFIG_REFRESHED,
            actor=self.actor,
            experiment_id=record.id,
            host_id=host.id,
            data={
                "variant": after.variant,
                "host": host.hostname,
                "previous_config_sha256": before.config_sha256,
                "config_sha256": after.config_sha256,
            },
        )

    def _issue_stops(self, record: ExperimentRecord) -> None:
        """Cancel what has not run yet, then stop every collector and the load (idempotent)."""
        tasks = self.queue.tasks_of(record.id)
        if any(
            t.action is not TaskAction.STOP
            and t.status in (TaskStatus.PENDING, TaskStatus.CLAIMED, TaskStatus.RUNNING)
            for t in tasks
        ):
            self.queue.cancel_experiment(record.id)
        with self.store.session() as session:
            deployments = DeploymentRepository(session)
            placed = deployments.pipelines(record.id)
            loadsim = deployments.loadsim_ports(record.id)
        stops = [self.deployer.stop_task(p, record.id) for p in placed]
        stops += self.deployer.loadsim_tasks(record.id, record.spec, loadsim, start=False)
        self._enqueue_missing(self.queue.tasks_of(record.id), stops)

    def _stops_done(self, record: ExperimentRecord) -> bool:
        stops = [t for t in self.queue.tasks_of(record.id) if t.action is TaskAction.STOP]
        return all(
            t.status
            in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.DEAD, TaskStatus.CANCELLED)
            for t in stops
        )

    def _release_when_stopped(self, record: ExperimentRecord) -> None:
        """Free a finished experiment's hosts once its stop tasks are through (or timed out)."""
        self._issue_stops(record)
        overdue = (
            record.completed_at is not None
            and (utcnow() - record.completed_at).total_seconds()
            >= self.settings.stop_timeout_seconds
        )
        if self._stops_done(record) or overdue:
            with self.store.session() as session:
                DeploymentRepository(session).release_hosts(record.id)

    # --- failures ----------------------------------------------------------------------------

    def _failure(self, record: ExperimentRecord, tasks: list[Task], now: datetime) -> str | None:
        """Why the experiment must fail now, or None."""
        for task in tasks:
            if task.action is TaskAction.STOP or task.status not in FAILED_TASK:
                continue
            if task.status is TaskStatus.DEAD:
                return (
                    f"task {_describe(task)} is dead after {task.attempt} attempts: "
                    f"{task.error_message or 'no error reported'}"
                )
            return f"task {_describe(task)} failed: {task.error_message or 'no error reported'}"
        with self.store.session() as session:
            deployments = DeploymentRepository(session)
            broken = deployments.broken_pipelines(record.id)
            hosts = deployments.hosts(record.id)
        names = {h.id: h.hostname for h in hosts}
        if broken:
            placed = broken[0]
            where = f"variant {placed.variant} on host {names.get(placed.host_id, placed.host_id)}"
            if placed.status is ActivePipelineStatus.GONE:
                return (
                    f"the collector of {where} no longer runs (its agent's heartbeats "
                    "stopped listing it)"
                )
            return f"the collector of {where} is crash-looping ({placed.restarts} restarts)"
        if record.state in COLLECTING_STATES and hosts:
            # offline once a heartbeat is overdue; tolerated for the grace period after that
            grace = timedelta(
                seconds=self.settings.heartbeat_timeout_seconds
                + self.settings.offline_grace_seconds
            )
            online = [h for h in hosts if not _offline_beyond_grace(h, now, grace)]
            if len(online) / len(hosts) < self.settings.min_host_share:
                return (
                    f"only {len(online)} of {len(hosts)} hosts are online (the minimum is "
                    f"{self.settings.min_host_share:.0%})"
                )
        return None

    def _fail(self, record: ExperimentRecord, reason: str) -> None:
        log.warning("experiment %s failed: %s", record.id, reason)
        self._move(record, ExperimentState.FAILED, reason=reason)
        self._issue_stops(record)

    # --- helpers -----------------------------------------------------------------------------

    def _move(
        self,
        record: ExperimentRecord,
        target: ExperimentState,
        *,
        reason: str | None = None,
        verdict: Verdict | None = None,
        reasons: list[str] | None = None,
        measurement_window: MeasurementWindow | None = None,
    ) -> None:
        with self.store.session() as session:
            ExperimentRepository(session).transition(
                record.id,
                target,
                actor=self.actor,
                expected=record.state,
                reason=reason,
                verdict=verdict,
                verdict_reasons=reasons,
                measurement_window=measurement_window,
            )

    def _measurement_window(self, record: ExperimentRecord, end: datetime) -> MeasurementWindow:
        """From the start of the run, or later when a variant's final config took effect
        later (a start or a reload reported succeeded), to ``end``."""
        applied: dict[str, datetime] = {}
        reloads: dict[str, int] = {}
        for task in self.queue.tasks_of(record.id):
            variant = task.payload.get("variant")
            if (
                task.type is not TaskType.COLLECTOR
                or task.action not in (TaskAction.START, TaskAction.RELOAD)
                or task.status is not TaskStatus.SUCCEEDED
                or task.completed_at is None
                or not isinstance(variant, str)
            ):
                continue
            applied[variant] = max(applied.get(variant, task.completed_at), task.completed_at)
            reloads[variant] = reloads.get(variant, 0) + (task.action is TaskAction.RELOAD)
        start = max([record.state_changed_at, *applied.values()])
        return MeasurementWindow(start=start, end=end, config_applied_at=applied, reloads=reloads)

    def _reference(self, record: ExperimentRecord, host: HostRecord) -> Reference:
        """The baseline's inventory on the host, read once per pass for all its candidates."""
        key = (record.id, host.id)
        if key not in self._references:
            self._references[key] = self._read_reference(record, host)
        return self._references[key]

    def _read_reference(self, record: ExperimentRecord, host: HostRecord) -> Reference:
        jobs = [source.name for source in record.spec.sources]
        try:
            return self.reference.latest(record.id, record.spec.baseline.name, host.hostname, jobs)
        except PhoenixError as exc:
            log.warning("no reference values for %s on %s: %s", record.id, host.hostname, exc)
            return Reference.waiting(f"the baseline's series cannot be read: {exc}")

    def _note_waiting(
        self, session: Session, record: ExperimentRecord, variant: str, host: HostRecord, why: str
    ) -> None:
        """An event each time what a variant waits for on a host changes."""
        key = (record.id, variant, host.id)
        if self._waiting.get(key) == why:
            return
        self._waiting[key] = why
        EventRepository(session).append(
            DEPLOY_WAITING,
            actor=self.actor,
            experiment_id=record.id,
            host_id=host.id,
            data={"variant": variant, "host": host.hostname, "waiting_for": why},
        )

    def _enqueue_missing(self, existing: list[Task], wanted: list[NewTask]) -> None:
        keys = {t.idempotency_key for t in existing}
        missing = [t for t in wanted if t.idempotency_key not in keys]
        if missing:
            self.queue.enqueue(missing)


def _describe(task: Task) -> str:
    variant = task.payload.get("variant")
    what = f"{task.type.value}/{task.action.value}"
    return f"{what} of variant {variant}" if variant else what


def _offline_beyond_grace(host: HostRecord, now: datetime, grace: timedelta) -> bool:
    if host.status is not HostStatus.OFFLINE:
        return False
    return host.last_heartbeat is None or now - host.last_heartbeat > grace
