"""The claim path: a partial index on a host's pending tasks by priority (descending), then id.

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


def downgrade() -> None:
    op.drop_index("ix_agent_tasks_claimable", table_name="agent_tasks")
