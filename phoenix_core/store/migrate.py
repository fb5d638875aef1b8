"""Bring a database to the schema this code needs, safely with several processes starting.

On PostgreSQL the whole upgrade runs under a session-level advisory lock, so API replicas that
start together migrate one after another (the later ones find nothing to do). A database at a
migration this code does not know (written by a newer Phoenix) is refused, never "upgraded".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from phoenix_core.errors import SchemaAhead, SchemaMismatch
from phoenix_core.store.database import (
    connect,
    is_postgresql,
    make_engine,
    translate_error,
    unavailable,
)

__all__ = [
    "MIGRATION_LOCK_KEY",
    "SchemaState",
    "SchemaStatus",
    "downgrade",
    "head_revision",
    "prepare_database",
    "require_head",
    "schema_status",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x70686F656E6978  # "phoenix" in ASCII; one key for every Phoenix database
_SCRIPT_LOCATION = Path(__file__).with_name("migrations")


class SchemaState(StrEnum):
    EMPTY = "empty"
    BEHIND = "behind"
    AT_HEAD = "at_head"
    AHEAD = "ahead"


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    state: SchemaState


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest migration this code knows."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations found"
    return head


def _status(connection: Connection) -> SchemaStatus:
    current = MigrationContext.configure(connection).get_current_revision()
    head = head_revision()
    known = {script.revision for script in _scripts().walk_revisions()}
    if current is None:
        state = SchemaState.EMPTY
    elif current == head:
        state = SchemaState.AT_HEAD
    elif current in known:
        state = SchemaState.BEHIND
    else:
        state = SchemaState.AHEAD
    return SchemaStatus(current=current, head=head, state=state)


def schema_status(engine: Engine) -> SchemaStatus:
    """Where the database's schema stands relative to this code."""
    with _connection(engine) as connection, _database_errors(engine, "Reading the schema version"):
        return _status(connection)


def _connection(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise unavailable(engine, exc) from exc


@contextmanager
def _database_errors(engine: Engine, doing: str) -> Iterator[None]:
    """Turn driver errors into ``DatabaseUnavailable`` (connection lost) or ``DatabaseError``."""
    try:
        yield
    except DBAPIError as exc:
        raise translate_error(engine, exc, doing) from exc


def _ahead_error(status: SchemaStatus) -> SchemaAhead:
    return SchemaAhead(
        f"The database is at migration '{status.current}', which this version of Phoenix does "
        f"not know (its newest is '{status.head}'): upgrade Phoenix, or point "
        "PHOENIX_DATABASE_URL at another database."
    )


def require_head(engine: Engine) -> SchemaStatus:
    """Raise unless the schema is exactly at this code's head."""
    status = schema_status(engine)
    if status.state is SchemaState.AHEAD:
        raise _ahead_error(status)
    if status.state is not SchemaState.AT_HEAD:
        raise SchemaMismatch(
            f"The database schema is at '{status.current or 'nothing'}', not at '{status.head}': "
            "run 'phoenix db upgrade'."
        )
    return status


def prepare_database(raw_url: str) -> tuple[Engine, SchemaStatus]:
    """Open the database at ``raw_url`` and bring it to head: what every server start does."""
    engine = make_engine(raw_url)
    try:
        connect(engine)
        return engine, upgrade(engine)
    except BaseException:
        engine.dispose()
        raise


def upgrade(engine: Engine, revision: str = "head") -> SchemaStatus:
    """Migrate to ``revision`` (default: head) under the migration lock; return the new status."""
    return _migrate(engine, revision, up=True)


def downgrade(engine: Engine, revision: str) -> SchemaStatus:
    """Migrate down to ``revision`` (``base`` empties the schema) under the migration lock."""
    return _migrate(engine, revision, up=False)


def _migrate(engine: Engine, revision: str, *, up: bool) -> SchemaStatus:
    postgres = is_postgresql(engine)
    with _connection(engine) as connection, _database_errors(engine, "Migrating the database"):
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            before = _status(connection)
            if before.state is SchemaState.AHEAD:
                raise _ahead_error(before)
            connection.commit()
            if not (up and before.state is SchemaState.AT_HEAD and revision == "head"):
                log.info(
                    "migrating database from %s to %s",
                    before.current or "nothing",
                    revision,
                    extra={"action": "migrate"},
                )
            config = _config(connection)
            if up:
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
            connection.commit()
            return _status(connection)
        finally:
            if postgres and not connection.invalidated:
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
