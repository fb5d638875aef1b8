"""Experiments as users change them: drafts created, edited and deleted, started, stopped and
dry-run. Each checks what it must (hosts resolve, every variant renders), then stores."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from phoenix_core.controller.deployment import Deployer
from phoenix_core.controller.reference import ReferenceSource
from phoenix_core.errors import Conflict
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.deployments import DeploymentRepository
from phoenix_core.store.experiments import ExperimentRecord, ExperimentRepository
from phoenix_core.store.session import Store
from phoenix_core.use_cases.dry_run import DryRun, forecast_variants
from phoenix_core.use_cases.preflight import Preflight
from phoenix_core.use_cases.usage import check_references

__all__ = ["Experiments"]


@dataclass(frozen=True)
class Experiments:
    """The experiment use cases, one method each; the controller then runs what they start."""

    store: Store
    deployer: Deployer
    reference: ReferenceSource | None = None
    """The baseline's inventory, once known, for dry runs of started experiments."""
    preflight: Preflight | None = None
    """What a start checks beyond the spec (the sink, Phoenix's Prometheus); None: nothing."""

    def create(self, spec: ExperimentSpec, *, actor: str) -> ExperimentRecord:
        """A new draft; its hosts must resolve and every variant must render for them."""
        self._check(spec)
        with self.store.session() as session:
            return ExperimentRepository(session).create(spec, actor=actor)

    def update(
        self,
        experiment_id: uuid.UUID,
        spec: ExperimentSpec,
        *,
        expected_version: int,
        actor: str,
    ) -> ExperimentRecord:
        """Replace a draft's spec, if it is still at ``expected_version``; checked as at create."""
        self._check(spec)
        with self.store.session() as session:
            return ExperimentRepository(session).update_spec(
                experiment_id, spec, expected_version=expected_version, actor=actor
            )

    def delete(self, experiment_id: uuid.UUID, *, actor: str) -> None:
        """Delete a draft (its audit trail stays)."""
        with self.store.session() as session:
            ExperimentRepository(session).delete(experiment_id, actor=actor)

    def start(self, experiment_id: uuid.UUID, *, actor: str) -> ExperimentRecord:
        """Validate a draft (its usage sources are stored, hosts resolve, every variant
        renders), check that its sink and Phoenix's Prometheus answer, and schedule it."""
        with self.store.session() as session:
            record = ExperimentRepository(session).get(experiment_id)
            if record.state is not ExperimentState.DRAFT:
                raise Conflict(f"Experiment {experiment_id} is '{record.state}', not a draft.")
            check_references(session, record.spec.usage_sources)  # deleted since?
            hosts = DeploymentRepository(session).resolve_hosts(record.spec)
            self.deployer.validate(record.spec, hosts)
        if self.preflight is not None:  # over the network: outside the transaction
            self.preflight.check(record.spec)
        with self.store.session() as session:
            return ExperimentRepository(session).transition(
                experiment_id,
                ExperimentState.SCHEDULED,
                actor=actor,
                expected=ExperimentState.DRAFT,
            )

    def stop(self, experiment_id: uuid.UUID, *, actor: str) -> ExperimentRecord:
        """A user's stop: the controller then stops the collectors and ends in ``stopped``."""
        with self.store.session() as session:
            return ExperimentRepository(session).transition(
                experiment_id, ExperimentState.STOPPING, actor=actor
            )

    def dry_run(self, experiment_id: uuid.UUID) -> DryRun:
        """Everything a start would deploy, rendered, and each variant's forecast with
        warnings where a candidate saves nothing; nothing is deployed. Once the baseline's
        complete inventory on a host is known (a started experiment), its variants render and
        are forecast from it, so a step the collector refuses on those series is refused
        here; before, the forecast is the load's (``phoenix_core.use_cases.dry_run``)."""
        with self.store.session() as session:
            record = ExperimentRepository(session).get(experiment_id)
            hosts = DeploymentRepository(session).resolve_hosts(record.spec)
        references = {}
        if self.reference is not None and record.state is not ExperimentState.DRAFT:
            jobs = [source.name for source in record.spec.sources]
            baseline = record.spec.baseline.name
            for host in hosts:
                found = self.reference.latest(record.id, baseline, host.hostname, jobs)
                if found.inventory is not None:
                    references[host.id] = found.inventory
        plans = self.deployer.preview(record.spec, hosts, references)
        measured = {host.hostname: references[host.id] for host in hosts if host.id in references}
        forecasts, warnings = forecast_variants(
            self.deployer, record.spec, [host.hostname for host in hosts], measured
        )
        return DryRun(plans=plans, forecast=forecasts, warnings=warnings)

    def _check(self, spec: ExperimentSpec) -> None:
        """Refuse a spec naming usage sources that are not stored, or whose hosts do not
        resolve, or whose variants do not render."""
        with self.store.session() as session:
            check_references(session, spec.usage_sources)
            hosts = DeploymentRepository(session).resolve_hosts(spec)
        self.deployer.validate(spec, hosts)
