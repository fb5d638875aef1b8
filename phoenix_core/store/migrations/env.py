"""Alembic environment: always called through ``phoenix_core.store.migrate`` with a connection."""

from __future__ import annotations

from alembic import context

from phoenix_core.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations with 'phoenix db upgrade' (phoenix_core.store.migrate), not bare alembic."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
