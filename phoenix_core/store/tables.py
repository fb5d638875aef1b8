"""The ORM tables, all in one place. Alembic migrations own the schema; a test keeps them equal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from phoenix_core.store.types import BigIntPK, JsonDoc, UTCDateTime, utcnow

__all__ = [
    "ActivePipelineRow",
    "AnalysisRow",
    "ApiTokenRow",
    "CollectorConfigRow",
    "ExperimentHostRow",
    "AgentTaskRow",
    "Base",
    "EventRow",
    "ExperimentRow",
    "HostRow",
    "KpiResultRow",
    "MetricsCacheRow",
    "PipelineRow",
    "PriceBookRow",
    "RecommendationRow",
    "UsageSourceRow",
    "UsageVersionRow",
    "VariantRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), Any: JsonDoc}


class ExperimentRow(Base):
    """An experiment and its whole spec (variants in ``experiment_variants``)."""

    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32), index=True)
    verdict: Mapped[str | None] = mapped_column(String(16))
    verdict_reasons: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    measurement_window: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    collector: Mapped[str] = mapped_column(String(32))
    hosts: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    host_selector: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    sources: Mapped[Any] = mapped_column(JsonDoc)
    sink: Mapped[Any] = mapped_column(JsonDoc)
    load_profile: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    warmup_seconds: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float)
    critical_selectors: Mapped[Any] = mapped_column(JsonDoc)
    gates: Mapped[Any] = mapped_column(JsonDoc)
    usage_sources: Mapped[Any] = mapped_column(JsonDoc, nullable=True)  # NULL: none (pre-0007)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    variants: Mapped[list[VariantRow]] = relationship(
        back_populates="experiment",
        order_by="VariantRow.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class VariantRow(Base):
    """One variant of an experiment: a pipeline template, its version and variables."""

    __tablename__ = "experiment_variants"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name"),
        Index(
            "uq_experiment_variants_one_baseline",
            "experiment_id",
            unique=True,
            sqlite_where=text("role = 'baseline'"),
            postgresql_where=text("role = 'baseline'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(63))
    role: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    template_version: Mapped[int | None] = mapped_column(Integer)
    variables: Mapped[Any] = mapped_column(JsonDoc)

    experiment: Mapped[ExperimentRow] = relationship(back_populates="variants")


class ExperimentHostRow(Base):
    """A host taken by an experiment. The partial unique index makes exclusivity a database
    guarantee: a host is ``active`` for at most one experiment at a time."""

    __tablename__ = "experiment_hosts"
    __table_args__ = (
        Index(
            "uq_experiment_hosts_one_active",
            "host_id",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hosts.id"), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    loadsim_port: Mapped[int | None] = mapped_column(Integer)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]


class CollectorConfigRow(Base):
    """A rendered collector config, addressed by its SHA-256 (served to agents as is)."""

    __tablename__ = "collector_configs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    collector: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineRow(Base):
    """A pipeline template at one version (its steps and typed variables as a document)."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[Any] = mapped_column(JsonDoc)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HostRow(Base):
    """A host with an agent: identity, labels, and what its last heartbeat said."""

    __tablename__ = "hosts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[Any] = mapped_column(JsonDoc)
    agent_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    capabilities: Mapped[Any] = mapped_column(JsonDoc)
    resource_usage: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    started_at: Mapped[datetime | None]
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat: Mapped[datetime | None]
    decommissioned_at: Mapped[datetime | None]


class AgentTaskRow(Base):
    """A unit of work for one host's agent; the row is its own history."""

    __tablename__ = "agent_tasks"
    __table_args__ = (
        # the claim query's path: a host's pending tasks, highest priority first, then oldest
        Index(
            "ix_agent_tasks_claimable",
            "host_id",
            text("priority DESC"),
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # tasks in flight, by host (heartbeats, cancellations) and lease (the reaper): a small
        # partial index, so that each status change touches as few index entries as it can
        Index(
            "ix_agent_tasks_held",
            "host_id",
            "lease_expires_at",
            postgresql_where=text("status IN ('claimed', 'running')"),
            sqlite_where=text("status IN ('claimed', 'running')"),
        ),
        Index(
            "ix_agent_tasks_experiment_id",
            "experiment_id",
            postgresql_where=text("experiment_id IS NOT NULL"),
            sqlite_where=text("experiment_id IS NOT NULL"),
        ),
        Index(
            "uq_agent_tasks_idempotency_key",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
            sqlite_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hosts.id"))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("experiments.id"))
    type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    payload: Mapped[Any] = mapped_column(JsonDoc)
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivePipelineRow(Base):
    """A collector running (or meant to run) for one variant of one experiment on one host."""

    __tablename__ = "active_pipelines"
    __table_args__ = (UniqueConstraint("host_id", "experiment_id", "variant"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hosts.id"))
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments.id"), index=True)
    variant: Mapped[str] = mapped_column(String(63))
    collector: Mapped[str] = mapped_column(String(32))
    config_sha256: Mapped[str] = mapped_column(String(64))
    ports: Mapped[Any] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_info: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    rendered_at: Mapped[datetime | None]
    """When the control plane last rendered its config (keep-lists refresh from here)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricsCacheRow(Base):
    """A metric sample sent by an agent (bounded batches; retention is a setting)."""

    __tablename__ = "metrics_cache"
    __table_args__ = (Index(None, "experiment_id", "metric_name", "timestamp"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("experiments.id"))
    host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    variant: Mapped[str | None] = mapped_column(String(63))
    metric_name: Mapped[str] = mapped_column(String(200))
    timestamp: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    labels: Mapped[Any] = mapped_column(JsonDoc)


class KpiResultRow(Base):
    """One KPI of one variant over one window, with its query, unit and statistics."""

    __tablename__ = "kpi_results"
    __table_args__ = (Index(None, "experiment_id", "kpi"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments.id"))
    variant: Mapped[str] = mapped_column(String(63))
    host: Mapped[str | None] = mapped_column(String(253))
    """The host the row measures; None: the variant over all its hosts (the verdict's row)."""
    kpi: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    query: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    change_percent: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    details: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalysisRow(Base):
    """An experiment's latest analysis: its outcome, winner and reasons, and what it judged."""

    __tablename__ = "analyses"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    winner: Mapped[str | None] = mapped_column(String(63))
    reasons: Mapped[Any] = mapped_column(JsonDoc)
    candidates: Mapped[Any] = mapped_column(JsonDoc)
    gates: Mapped[Any] = mapped_column(JsonDoc)
    missing: Mapped[Any] = mapped_column(JsonDoc)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    computed_by: Mapped[str] = mapped_column(String(200))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PriceBookRow(Base):
    """A price book added by an admin (the shipped ones are files in phoenix_core)."""

    __tablename__ = "price_books"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    document: Mapped[Any] = mapped_column(JsonDoc)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageSourceRow(Base):
    """A named source of queries (a rule file, a dashboard, a query list); its content is in
    its versions."""

    __tablename__ = "usage_sources"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageVersionRow(Base):
    """One upload of a usage source: the content as uploaded and its SHA-256 (never changed)."""

    __tablename__ = "usage_source_versions"

    source_name: Mapped[str] = mapped_column(
        ForeignKey("usage_sources.name", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecommendationRow(Base):
    """A computed recommendation, under the id that names its proposal; computing the same
    proposal again replaces its document (the latest forecast, savings and evidence)."""

    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    document: Mapped[Any] = mapped_column(JsonDoc)
    computed_by: Mapped[str] = mapped_column(String(200))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EventRow(Base):
    """The audit trail: one row per state change, with its actor. Append-only.

    No foreign keys: the trail outlives what it speaks of (a deleted draft keeps its history).
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    host_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[Any] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiTokenRow(Base):
    """A token (user, enrolment or host), stored as its SHA-256 hash only."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index(
            "uq_api_tokens_live_name",
            "kind",
            "name",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hosts.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
