"""Analysis results: each KPI's row per variant and host (with its samples), one analysis per
experiment (outcome, winner, reasons, gates, what had no data), and users' price books.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("kpi_results") as batch:
        batch.add_column(sa.Column("host", sa.String(length=253), nullable=True))
    op.create_table(
        "analyses",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=63), nullable=True),
        sa.Column("reasons", JSON_DOC, nullable=False),
        sa.Column("candidates", JSON_DOC, nullable=False),
        sa.Column("gates", JSON_DOC, nullable=False),
        sa.Column("missing", JSON_DOC, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("computed_by", sa.String(length=200), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_analyses_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_analyses")),
    )
    op.create_table(
        "price_books",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("document", JSON_DOC, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_price_books")),
    )


def downgrade() -> None:
    op.drop_table("price_books")
    op.drop_table("analyses")
    with op.batch_alter_table("kpi_results") as batch:
        batch.drop_column("host")
