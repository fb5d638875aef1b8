"""Usage sources (rule files, Grafana dashboards, query lists) and their versions, each the
content as uploaded with its SHA-256; and the usage sources an experiment's spec names.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "usage_sources",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_usage_sources")),
    )
    op.create_table(
        "usage_source_versions",
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_name"],
            ["usage_sources.name"],
            name=op.f("fk_usage_source_versions_source_name_usage_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_name", "version", name=op.f("pk_usage_source_versions")),
    )
    # NULL in the experiments already there: they name no usage source
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("usage_sources", JSON_DOC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("usage_sources")
    op.drop_table("usage_source_versions")
    op.drop_table("usage_sources")
