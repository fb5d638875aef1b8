"""Initial schema: experiments, variants, pipelines, hosts, tasks, active pipelines,
metrics cache, KPI results and the append-only events table; on PostgreSQL also the
compatibility views of PRIOR_ART.md (``tasks``, ``agents``, ``metric_cache``).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Views for SQL written against the earlier schema (PostgreSQL only; see PRIOR_ART.md).
COMPAT_VIEWS = {
    "tasks": """
        SELECT t.id, t.host_id, t.experiment_id, t.type AS task_type, t.action,
               t.payload AS config, t.priority,
               CASE t.status
                   WHEN 'pending' THEN 'pending'
                   WHEN 'claimed' THEN 'assigned'
                   WHEN 'running' THEN 'running'
                   WHEN 'succeeded' THEN 'completed'
                   WHEN 'failed' THEN 'failed'
                   WHEN 'dead' THEN 'failed'
                   WHEN 'cancelled' THEN 'cancelled'
               END AS status,
               t.claimed_at AS assigned_at, t.started_at, t.completed_at, t.result,
               t.error_message, GREATEST(t.attempt - 1, 0) AS retry_count,
               t.created_at, t.updated_at
        FROM agent_tasks t""",
    "agents": """
        SELECT h.id AS host_id, h.hostname, h.ip_address, h.agent_version, h.started_at,
               h.last_heartbeat, h.status, h.capabilities,
               COALESCE((SELECT jsonb_agg(t.id ORDER BY t.id) FROM agent_tasks t
                         WHERE t.host_id = h.id AND t.status IN ('claimed', 'running')),
                        '[]'::jsonb) AS active_tasks,
               h.resource_usage, h.labels AS metadata
        FROM hosts h""",
    "metric_cache": """
        SELECT m.experiment_id, m.timestamp, m.metric_name, m.variant, m.host_id, m.value,
               m.labels
        FROM metrics_cache m""",
}

# The audit trail is append-only: PostgreSQL refuses to change or delete its rows.
EVENTS_APPEND_ONLY = """
CREATE FUNCTION phoenix_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION phoenix_events_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=True),
        sa.Column("host_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_experiment_id"), "events", ["experiment_id"], unique=False)
    op.create_index(op.f("ix_events_host_id"), "events", ["host_id"], unique=False)

    op.create_table(
        "experiments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("verdict_reasons", JSON_DOC, nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("collector", sa.String(length=32), nullable=False),
        sa.Column("hosts", JSON_DOC, nullable=True),
        sa.Column("host_selector", JSON_DOC, nullable=True),
        sa.Column("sources", JSON_DOC, nullable=False),
        sa.Column("sink", JSON_DOC, nullable=False),
        sa.Column("load_profile", JSON_DOC, nullable=True),
        sa.Column("warmup_seconds", sa.Float(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("critical_selectors", JSON_DOC, nullable=False),
        sa.Column("gates", JSON_DOC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(op.f("ix_experiments_state"), "experiments", ["state"], unique=False)

    op.create_table(
        "hosts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("capabilities", JSON_DOC, nullable=False),
        sa.Column("resource_usage", JSON_DOC, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decommissioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
    )
    op.create_index(op.f("ix_hosts_hostname"), "hosts", ["hostname"], unique=False)

    op.create_table(
        "pipelines",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("definition", JSON_DOC, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_pipelines_name_version")),
    )
    op.create_table(
        "active_pipelines",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=63), nullable=False),
        sa.Column("collector", sa.String(length=32), nullable=False),
        sa.Column("config_sha256", sa.String(length=64), nullable=False),
        sa.Column("ports", JSON_DOC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_info", JSON_DOC, nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_active_pipelines_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_active_pipelines_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_active_pipelines")),
        sa.UniqueConstraint(
            "host_id",
            "experiment_id",
            "variant",
            name=op.f("uq_active_pipelines_host_id_experiment_id_variant"),
        ),
    )
    op.create_index(
        op.f("ix_active_pipelines_experiment_id"),
        "active_pipelines",
        ["experiment_id"],
        unique=False,
    )

    op.create_table(
        "agent_tasks",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_agent_tasks_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_agent_tasks_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tasks")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_agent_tasks_idempotency_key")),
    )
    op.create_index(
        op.f("ix_agent_tasks_experiment_id"),
        "agent_tasks",
        ["experiment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_agent_tasks_host_id_status"),
        "agent_tasks",
        ["host_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_agent_tasks_status_lease_expires_at"),
        "agent_tasks",
        ["status", "lease_expires_at"],
        unique=False,
    )

    op.create_table(
        "experiment_variants",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("variables", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_variants_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_variants")),
        sa.UniqueConstraint(
            "experiment_id",
            "name",
            name=op.f("uq_experiment_variants_experiment_id_name"),
        ),
    )
    op.create_index(
        "uq_experiment_variants_one_baseline",
        "experiment_variants",
        ["experiment_id"],
        unique=True,
        sqlite_where=sa.text("role = 'baseline'"),
        postgresql_where=sa.text("role = 'baseline'"),
    )

    op.create_table(
        "kpi_results",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=63), nullable=False),
        sa.Column("kpi", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_percent", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("details", JSON_DOC, nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_kpi_results_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_results")),
    )
    op.create_index(
        op.f("ix_kpi_results_experiment_id_kpi"),
        "kpi_results",
        ["experiment_id", "kpi"],
        unique=False,
    )

    op.create_table(
        "metrics_cache",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=True),
        sa.Column("host_id", sa.Uuid(), nullable=True),
        sa.Column("variant", sa.String(length=63), nullable=True),
        sa.Column("metric_name", sa.String(length=200), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_metrics_cache_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_metrics_cache_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics_cache")),
    )
    op.create_index(
        op.f("ix_metrics_cache_experiment_id_metric_name_timestamp"),
        "metrics_cache",
        ["experiment_id", "metric_name", "timestamp"],
        unique=False,
    )
    op.create_index(op.f("ix_metrics_cache_host_id"), "metrics_cache", ["host_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(EVENTS_APPEND_ONLY)
        for name, query in COMPAT_VIEWS.items():
            op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in COMPAT_VIEWS:
            op.execute(f"DROP VIEW {name}")
        op.execute("DROP TRIGGER events_append_only ON events")
        op.execute("DROP FUNCTION phoenix_events_append_only()")
    op.drop_index(op.f("ix_metrics_cache_host_id"), table_name="metrics_cache")
    op.drop_index(
        op.f("ix_metrics_cache_experiment_id_metric_name_timestamp"),
        table_name="metrics_cache",
    )

    op.drop_table("metrics_cache")
    op.drop_index(op.f("ix_kpi_results_experiment_id_kpi"), table_name="kpi_results")

    op.drop_table("kpi_results")
    op.drop_index(
        "uq_experiment_variants_one_baseline",
        table_name="experiment_variants",
        sqlite_where=sa.text("role = 'baseline'"),
        postgresql_where=sa.text("role = 'baseline'"),
    )

    op.drop_table("experiment_variants")
    op.drop_index(op.f("ix_agent_tasks_status_lease_expires_at"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_host_id_status"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_experiment_id"), table_name="agent_tasks")

    op.drop_table("agent_tasks")
    op.drop_index(op.f("ix_active_pipelines_experiment_id"), table_name="active_pipelines")

    op.drop_table("active_pipelines")
    op.drop_table("pipelines")
    op.drop_index(op.f("ix_hosts_hostname"), table_name="hosts")

    op.drop_table("hosts")
    op.drop_index(op.f("ix_experiments_state"), table_name="experiments")

    op.drop_table("experiments")
    op.drop_index(op.f("ix_events_host_id"), table_name="events")
    op.drop_index(op.f("ix_events_experiment_id"), table_name="events")

    op.drop_table("events")
