"""Queue indexes for the hot paths: a host's pending tasks by priority (descending), then id
(claim); tasks in flight by host and lease (heartbeat, reaper), replacing two full indexes;
experiment and idempotency-key indexes without the NULLs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_agent_tasks_claimable",
        "agent_tasks",
        ["host_id", sa.text("priority DESC"), "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    held = sa.text("status IN ('claimed', 'running')")
    op.create_index(
        "ix_agent_tasks_held",
        "agent_tasks",
        ["host_id", "lease_expires_at"],
        postgresql_where=held,
        sqlite_where=held,
    )
    op.drop_index("ix_agent_tasks_host_id_status", table_name="agent_tasks")
    op.drop_index("ix_agent_tasks_status_lease_expires_at", table_name="agent_tasks")
    # NULLs need no index entries: tasks without an experiment or an idempotency key
    not_null = sa.text("experiment_id IS NOT NULL")
    op.drop_index("ix_agent_tasks_experiment_id", table_name="agent_tasks")
    op.create_index(
        "ix_agent_tasks_experiment_id",
        "agent_tasks",
        ["experiment_id"],
        postgresql_where=not_null,
        sqlite_where=not_null,
    )
    keyed = sa.text("idempotency_key IS NOT NULL")
    with op.batch_alter_table("agent_tasks") as batch:
        batch.drop_constraint("uq_agent_tasks_idempotency_key", type_="unique")
    op.create_index(
        "uq_agent_tasks_idempotency_key",
        "agent_tasks",
        ["idempotency_key"],
        unique=True,
        postgresql_where=keyed,
        sqlite_where=keyed,
    )


def downgrade() -> None:
    op.drop_index("uq_agent_tasks_idempotency_key", table_name="agent_tasks")
    with op.batch_alter_table("agent_tasks") as batch:
        batch.create_unique_constraint("uq_agent_tasks_idempotency_key", ["idempotency_key"])
    op.drop_index("ix_agent_tasks_experiment_id", table_name="agent_tasks")
    op.create_index("ix_agent_tasks_experiment_id", "agent_tasks", ["experiment_id"])
    op.create_index(
        "ix_agent_tasks_status_lease_expires_at", "agent_tasks", ["status", "lease_expires_at"]
    )
    op.create_index("ix_agent_tasks_host_id_status", "agent_tasks", ["host_id", "status"])
    op.drop_index("ix_agent_tasks_held", table_name="agent_tasks")
    op.drop_index("ix_agent_tasks_claimable", table_name="agent_tasks")
