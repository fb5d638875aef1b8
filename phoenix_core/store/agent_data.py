"""What agents fetch and send besides tasks: their rendered configs, and metric samples."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.store.tables import (
    ActivePipelineRow,
    CollectorConfigRow,
    ExperimentRow,
    HostRow,
    MetricsCacheRow,
)
from phoenix_core.wire.agent_api import MetricsBatch

__all__ = ["cached_metrics", "config_for_host", "purge_metrics", "store_metrics"]


def config_for_host(session: Session, host_id: uuid.UUID, sha256: str) -> str:
    """A rendered config the host runs (or is to run); other hosts' configs are not found."""
    content = session.scalar(
        select(CollectorConfigRow.content)
        .join(ActivePipelineRow, ActivePipelineRow.config_sha256 == CollectorConfigRow.sha256)
        .where(ActivePipelineRow.host_id == host_id, CollectorConfigRow.sha256 == sha256)
        .limit(1)
    )
    if content is None:
        raise NotFound("collector config", f"{sha256} for this host")
    return content


def purge_metrics(session: Session, older_than: datetime) -> int:
    """Delete metric samples taken before ``older_than`` (retention); returns how many."""
    result = session.execute(delete(MetricsCacheRow).where(MetricsCacheRow.timestamp < older_than))
    return int(result.rowcount)  # type: ignore[attr-defined]


def store_metrics(session: Session, host_id: uuid.UUID, batch: MetricsBatch) -> int:
    """Store a batch; samples naming an unknown experiment refuse the batch, naming them."""
    named = {s.experiment_id for s in batch.samples if s.experiment_id is not None}
    known = set(session.scalars(select(ExperimentRow.id).where(ExperimentRow.id.in_(named))))
    unknown = [
        FieldError(("samples", i, "experiment_id"), f"no experiment {sample.experiment_id}")
        for i, sample in enumerate(batch.samples)
        if sample.experiment_id is not None and sample.experiment_id not in known
    ]
    if unknown:
        raise ValidationFailed(unknown)
    session.add_all(
        MetricsCacheRow(
            experiment_id=sample.experiment_id,
            host_id=host_id,
            variant=sample.variant,
            metric_name=sample.metric_name,
            timestamp=sample.timestamp,
            value=sample.value,
            labels=sample.labels,
        )
        for sample in batch.samples
    )
    session.flush()
    return len(batch.samples)


def cached_metrics(
    session: Session,
    experiment_id: uuid.UUID,
    metric_names: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[tuple[str, str, str, datetime, float]]:
    """The agents' samples of these metrics for one experiment within [start, end], as
    ``(metric_name, variant, host name, timestamp, value)`` (``metrics.derived.CACHE_COLUMNS``)."""
    rows = session.execute(
        select(
            MetricsCacheRow.metric_name,
            MetricsCacheRow.variant,
            HostRow.hostname,
            MetricsCacheRow.timestamp,
            MetricsCacheRow.value,
        )
        .join(HostRow, HostRow.id == MetricsCacheRow.host_id)
        .where(
            MetricsCacheRow.experiment_id == experiment_id,
            MetricsCacheRow.metric_name.in_(list(metric_names)),
            MetricsCacheRow.variant.is_not(None),
            MetricsCacheRow.timestamp >= start,
            MetricsCacheRow.timestamp <= end,
        )
        .order_by(MetricsCacheRow.timestamp)
    )
    return [(name, str(variant), host, at, value) for name, variant, host, at, value in rows]
