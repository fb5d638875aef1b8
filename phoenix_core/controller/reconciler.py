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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from phoenix_core.clock import utcnow
from phoenix_core.controller.analysis import Analyzer, NoAnalyzer
from phoenix_core.controller.deployment import Deployer, HostsBusy, needs_reference, store_config
from phoenix_core.controller.leadership import Leadership
from phoenix_core.controller.reference import ReferenceSource
from phoenix_core.controller.settings import ControllerSettings
from phoenix_core.errors import Conflict, PhoenixError, ValidationFailed
from phoenix_core.lifecycle import (
    ACTIVE_STATES,
    COLLECTING_STATES,
    TERMINAL_STATES,
    ExperimentState,
    Verdict,
)
from phoenix_core.pipelines.templates import TemplateLibrary
from phoenix_core.queue import NewTask, Task, TaskQueue
from phoenix_core.store.agent_data import purge_metrics
from phoenix_core.store.experiments import ExperimentRecord, ExperimentRepository
from phoenix_core.store.hosts import HostRecord, HostRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import ActivePipelineRow, ExperimentHostRow
from phoenix_core.wire import ActivePipelineStatus, HostStatus, TaskAction, TaskStatus

__all__ = ["Controller"]

log = logging.getLogger(__name__)

S = ExperimentState
T = TaskStatus
_P = ActivePipelineStatus
FAILED_TASK = (T.FAILED, T.DEAD)


@dataclass
class Controller:
    store: Store
    queue: TaskQueue
    settings: ControllerSettings
    reference: ReferenceSource
    library: TemplateLibrary
    analyzer: Analyzer = field(default_factory=NoAnalyzer)
    instance: str = f"{socket.gethostname()}:{os.getpid()}"

    def __post_init__(self) -> None:
        self.deployer = Deployer(self.settings, self.library)
        self.leadership = Leadership(self.store.engine)
        self._last_purge: datetime | None = None

    @classmethod
    def build(
        cls,
        store: Store,
        queue: TaskQueue,
        settings: ControllerSettings,
        analyzer: Analyzer | None = None,
    ) -> Controller:
        """The production wiring: reference values from Prometheus, the built-in templates."""
        from phoenix_core.controller.reference import PrometheusReference
        from phoenix_core.metrics.prometheus import PrometheusClient

        reference = PrometheusReference(PrometheusClient(settings.prometheus_url))
        return cls(
            store,
            queue,
            settings,
            reference,
            TemplateLibrary.builtin(),
            analyzer=analyzer or NoAnalyzer(),
        )

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
        for record in self._experiments():
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
        if record.state is S.SCHEDULED:
            self._schedule(record)
            return
        tasks = self.queue.tasks_of(record.id)
        if record.state is not S.STOPPING:  # a user's stop ends in 'stopped' whatever failed
            reason = self._failure(record, tasks, now)
            if reason is not None:
                self._fail(record, reason)
                return
        elapsed = (now - record.state_changed_at).total_seconds()
        if record.state is S.DEPLOYING:
            self._deploy(record, tasks, elapsed)
        elif record.state is S.WARMING_UP:
            self._refresh_keep_lists(record, now)
            if elapsed >= record.spec.warmup_seconds:
                self._move(record, S.RUNNING)
        elif record.state is S.RUNNING:
            self._refresh_keep_lists(record, now)
            if elapsed >= record.spec.duration_seconds:
                self._issue_stops(record)
                self._move(record, S.ANALYZING)
        elif record.state is S.ANALYZING:
            result = self.analyzer.analyze(record)
            self._move(record, S.COMPLETED, verdict=result.verdict, reasons=result.reasons)
        elif record.state is S.STOPPING:
            self._issue_stops(record)
            if self._stops_done(record):
                self._move(record, S.STOPPED)

    def _schedule(self, record: ExperimentRecord) -> None:
        try:
            with self.store.session() as session:
                hosts = self.deployer.resolve_hosts(session, record.spec)
                self.deployer.take_hosts(session, record.id, record.spec, hosts)
        except HostsBusy as busy:
            log.debug("experiment %s waits for host %s", record.id, busy)
            return
        except ValidationFailed as exc:  # hosts vanished since it was started
            self._fail(record, str(exc))
            return
        self._move(record, S.DEPLOYING)

    def _deploy(self, record: ExperimentRecord, tasks: list[Task], elapsed: float) -> None:
        """Place every variant on every host (candidates that need reference values once the
        baseline has measurements), start them, and move on when every start succeeded."""
        new: list[NewTask] = []
        waiting: list[str] = []
        with self.store.session() as session:
            hosts = self._hosts(session, record.id)
            ports = self.deployer.loadsim_ports(session, record.id)
            new += self.deployer.loadsim_tasks(record.id, record.spec, ports, start=True)
            for host in hosts:
                for variant in record.spec.variants:
                    row = self.deployer.pipeline_row(session, record.id, host.id, variant.name)
                    if row is None:
                        reference = None
                        pipeline = self.deployer.pipeline(record.spec, variant)
                        if needs_reference(pipeline, record.spec.collector):
                            reference = self._reference(record, host)
                            if reference is None:
                                waiting.append(f"{variant.name} on {host.hostname}")
                                continue
                        row = self.deployer.place(
                            session=session,
                            experiment_id=record.id,
                            spec=record.spec,
                            variant=variant,
                            host=host,
                            reference=reference,
                        )
                    new.append(self.deployer.start_task(row, record.id))
        self._enqueue_missing(tasks, new)
        starts = [t for t in self.queue.tasks_of(record.id) if t.action is TaskAction.START]
        if not waiting and len(starts) == len(new) and all(t.status is T.SUCCEEDED for t in starts):
            self._move(record, S.WARMING_UP)
        elif elapsed >= self.settings.deploy_timeout_seconds:
            pending = waiting + [_describe(t) for t in starts if t.status is not T.SUCCEEDED]
            self._fail(
                record,
                f"deploy timed out after {self.settings.deploy_timeout_seconds:.0f} s waiting "
                f"for: {', '.join(pending)}",
            )

    def _refresh_keep_lists(self, record: ExperimentRecord, now: datetime) -> None:
        """Recompute value-dependent lists from the baseline every refresh interval; reload
        a collector whose config changed."""
        reloads: list[NewTask] = []
        with self.store.session() as session:
            hosts = {h.id: h for h in self._hosts(session, record.id)}
            ports = self.deployer.loadsim_ports(session, record.id)
            for variant in record.spec.candidates:
                pipeline = self.deployer.pipeline(record.spec, variant)
                if not needs_reference(pipeline, record.spec.collector):
                    continue
                for host in hosts.values():
                    row = self.deployer.pipeline_row(session, record.id, host.id, variant.name)
                    due = row is not None and (
                        row.rendered_at is None
                        or (now - row.rendered_at).total_seconds() >= pipeline.refresh_seconds
                    )
                    if not due or row is None:
                        continue
                    reference = self._reference(record, host)
                    if reference is None:
                        continue
                    config = self.deployer.render(
                        experiment_id=record.id,
                        spec=record.spec,
                        variant=variant,
                        host=host,
                        ports=row.ports,
                        loadsim_port=ports.get(host.id),
                        reference=reference,
                    )
                    row.rendered_at = now
                    if config.sha256 != row.config_sha256:
                        store_config(session, config)
                        row.config_sha256 = config.sha256
                        reloads.append(self.deployer.reload_task(row, record.id))
        if reloads:
            self.queue.enqueue(reloads)

    def _issue_stops(self, record: ExperimentRecord) -> None:
        """Cancel what has not run yet, then stop every collector and the load (idempotent)."""
        tasks = self.queue.tasks_of(record.id)
        if any(
            t.action is not TaskAction.STOP and t.status in (T.PENDING, T.CLAIMED, T.RUNNING)
            for t in tasks
        ):
            self.queue.cancel_experiment(record.id)
        with self.store.session() as session:
            rows = session.scalars(
                select(ActivePipelineRow).where(ActivePipelineRow.experiment_id == record.id)
            ).all()
            stops = [self.deployer.stop_task(row, record.id) for row in rows]
            ports = self.deployer.loadsim_ports(session, record.id)
        stops += self.deployer.loadsim_tasks(record.id, record.spec, ports, start=False)
        self._enqueue_missing(self.queue.tasks_of(record.id), stops)

    def _stops_done(self, record: ExperimentRecord) -> bool:
        stops = [t for t in self.queue.tasks_of(record.id) if t.action is TaskAction.STOP]
        return all(t.status in (T.SUCCEEDED, T.FAILED, T.DEAD, T.CANCELLED) for t in stops)

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
                self.deployer.release_hosts(session, record.id)

    # --- failures ----------------------------------------------------------------------------

    def _failure(self, record: ExperimentRecord, tasks: list[Task], now: datetime) -> str | None:
        """Why the experiment must fail now, or None."""
        for task in tasks:
            if task.action is TaskAction.STOP or task.status not in FAILED_TASK:
                continue
            if task.status is T.DEAD:
                return (
                    f"task {_describe(task)} is dead after {task.attempt} attempts: "
                    f"{task.error_message or 'no error reported'}"
                )
            return f"task {_describe(task)} failed: {task.error_message or 'no error reported'}"
        with self.store.session() as session:
            broken = session.scalars(
                select(ActivePipelineRow).where(
                    ActivePipelineRow.experiment_id == record.id,
                    ActivePipelineRow.status.in_([_P.CRASH_LOOPING.value, _P.GONE.value]),
                )
            ).all()
            hosts = self._hosts(session, record.id)
            names = {h.id: h.hostname for h in hosts}
            if broken:
                row = broken[0]
                where = f"variant {row.variant} on host {names.get(row.host_id, row.host_id)}"
                if row.status == _P.GONE.value:
                    return (
                        f"the collector of {where} no longer runs (its agent's heartbeats "
                        "stopped listing it)"
                    )
                return f"the collector of {where} is crash-looping ({row.restarts} restarts)"
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
        self._move(record, S.FAILED, reason=reason)
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
            )

    def _hosts(self, session: Session, experiment_id: uuid.UUID) -> list[HostRecord]:
        ids = session.scalars(
            select(ExperimentHostRow.host_id).where(
                ExperimentHostRow.experiment_id == experiment_id
            )
        ).all()
        hosts = HostRepository(session)
        return sorted((hosts.get(i) for i in ids), key=lambda h: h.hostname)

    def _reference(self, record: ExperimentRecord, host: HostRecord) -> pd.DataFrame | None:
        jobs = [source.name for source in record.spec.sources]
        try:
            return self.reference.latest(record.id, record.spec.baseline.name, host.hostname, jobs)
        except PhoenixError as exc:
            log.warning("no reference values for %s on %s: %s", record.id, host.hostname, exc)
            return None

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
