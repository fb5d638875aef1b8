"""Computed recommendations, each under the id that names its proposal (kind, collector,
template and variables), with its latest document: so that a draft experiment can be created
from one after it was listed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document", JSON_DOC, nullable=False),
        sa.Column("computed_by", sa.String(length=200), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
    )
    op.create_index(
        op.f("ix_recommendations_computed_at"), "recommendations", ["computed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_recommendations_computed_at"), table_name="recommendations")
    op.drop_table("recommendations")
