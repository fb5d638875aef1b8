"""When a collector config was last rendered; the hosts experiments take (one active
experiment per host, enforced by a partial unique index); rendered collector configs by SHA-256.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "active_pipelines", sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "collector_configs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("collector", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_collector_configs")),
    )
    op.create_table(
        "experiment_hosts",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("loadsim_port", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_hosts_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_experiment_hosts_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("experiment_id", "host_id", name=op.f("pk_experiment_hosts")),
    )
    op.create_index(
        "uq_experiment_hosts_one_active",
        "experiment_hosts",
        ["host_id"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )


def downgrade() -> None:
    with op.batch_alter_table("active_pipelines") as batch:
        batch.drop_column("rendered_at")
    op.drop_index("uq_experiment_hosts_one_active", table_name="experiment_hosts")
    op.drop_table("experiment_hosts")
    op.drop_table("collector_configs")
