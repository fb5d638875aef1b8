"""Alembic owns the schema: empty → head, head → base → head, and no drift from the ORM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from phoenix_core.errors import SchemaAhead, SchemaMismatch
from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import (
    SchemaState,
    downgrade,
    head_revision,
    require_head,
    schema_status,
    upgrade,
)
from phoenix_core.store.tables import Base

TABLES = {
    "api_tokens",
    "experiment_hosts",
    "collector_configs",
    "experiments",
    "experiment_variants",
    "pipelines",
    "hosts",
    "agent_tasks",
    "active_pipelines",
    "metrics_cache",
    "kpi_results",
    "analyses",
    "price_books",
    "usage_sources",
    "usage_source_versions",
    "recommendations",
    "events",
}


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_empty_to_head(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    assert schema_status(engine).state is SchemaState.EMPTY
    status = upgrade(engine)
    assert status.state is SchemaState.AT_HEAD
    assert status.current == head_revision()
    assert _tables(engine) == TABLES
    engine.dispose()


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    assert upgrade(engine).state is SchemaState.AT_HEAD
    engine.dispose()


def test_head_to_base_to_head(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    status = downgrade(engine, "base")
    assert status.state is SchemaState.EMPTY
    assert _tables(engine) == set()
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            views = connection.execute(
                text("SELECT count(*) FROM pg_views WHERE schemaname = 'public'")
            ).scalar_one()
        assert views == 0
    assert upgrade(engine).state is SchemaState.AT_HEAD
    assert _tables(engine) == TABLES
    engine.dispose()


# SQLite cannot reflect expression indexes (the claim index sorts by priority DESC), so there
# alembic cannot compare that one index; PostgreSQL compares it like everything else.
EXPRESSION_INDEXES = {"ix_agent_tasks_claimable"}


@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
)
def test_models_and_migrations_do_not_drift(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    sqlite = engine.dialect.name == "sqlite"

    def include(obj: object, name: str | None, kind: str, *_: object) -> bool:
        return not (sqlite and kind == "index" and name in EXPRESSION_INDEXES)

    with engine.connect() as connection:
        options = {"compare_type": True, "include_object": include}
        context = MigrationContext.configure(connection, opts=options)
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_require_head_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    with pytest.raises(SchemaMismatch, match="phoenix db upgrade"):
        require_head(engine)
    engine.dispose()


def test_a_database_from_a_newer_phoenix_is_refused(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    assert schema_status(engine).state is SchemaState.AHEAD
    with pytest.raises(SchemaAhead, match=r"'f00dfeed9999'.*upgrade Phoenix"):
        upgrade(engine)
    with pytest.raises(SchemaAhead):
        require_head(engine)
    engine.dispose()
