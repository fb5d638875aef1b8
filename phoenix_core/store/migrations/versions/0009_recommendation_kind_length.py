"""A recommendation's kind in up to 32 characters: ``drop_unread_metrics`` (19) is one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.alter_column(
            "kind", existing_type=sa.String(length=16), type_=sa.String(length=32), nullable=False
        )


def downgrade() -> None:
    # a kind longer than 16 would not fit: those rows go (listing computes them again)
    op.execute(sa.text("DELETE FROM recommendations WHERE length(kind) > 16"))
    with op.batch_alter_table("recommendations") as batch:
        batch.alter_column(
            "kind", existing_type=sa.String(length=32), type_=sa.String(length=16), nullable=False
        )
