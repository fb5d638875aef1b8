"""Database URLs and engines: the embedded SQLite default or PostgreSQL (psycopg 3).

Every driver error that can happen while connecting is turned into one readable sentence
(``ConfigurationError`` or ``DatabaseUnavailable``) here, at the boundary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import DBAPIError as SQLAlchemyDBAPIError

from phoenix_core.errors import ConfigurationError, DatabaseError, DatabaseUnavailable

__all__ = [
    "connection_lost",
    "connect",
    "describe",
    "is_postgresql",
    "make_engine",
    "parse_database_url",
    "translate_error",
    "unavailable",
]

log = logging.getLogger(__name__)

_EXAMPLES = "sqlite:////var/lib/phoenix/phoenix.db or postgresql+psycopg://phoenix@db:5432/phoenix"


def parse_database_url(raw: str) -> URL:
    """Parse and check a database URL; ``postgresql://`` means the psycopg 3 driver."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigurationError(
            f"PHOENIX_DATABASE_URL is not a valid database URL ({_redact_raw(raw)!r}); "
            f"expected e.g. {_EXAMPLES}."
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        if not url.host and not url.query.get("host"):
            raise ConfigurationError(
                f"PHOENIX_DATABASE_URL names no PostgreSQL host ({describe(url)}); "
                f"expected e.g. {_EXAMPLES}."
            )
        if not url.database:
            raise ConfigurationError(
                f"PHOENIX_DATABASE_URL names no database ({describe(url)}); "
                f"expected e.g. {_EXAMPLES}."
            )
        return url.set(drivername="postgresql+psycopg")
    raise ConfigurationError(
        f"PHOENIX_DATABASE_URL uses '{url.drivername}', which Phoenix does not support; "
        f"use sqlite:/// (embedded) or postgresql+psycopg:// (production), e.g. {_EXAMPLES}."
    )


def is_postgresql(url_or_engine: URL | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
    return url.get_backend_name() == "postgresql"


def describe(url: URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def make_engine(raw_url: str, **kwargs: Any) -> Engine:
    """An engine for ``raw_url`` (not yet connected); creates the SQLite file's folder."""
    url = parse_database_url(raw_url)
    if is_postgresql(url):
        connect_args = {"connect_timeout": 5, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    else:
        if url.database and url.database != ":memory:":
            folder = Path(url.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigurationError(
                    f"Cannot create the data folder {folder} for the SQLite database: "
                    f"{exc.strerror}."
                ) from exc
        try:
            engine = create_engine(url, **kwargs)
        except NoSuchModuleError as exc:  # pragma: no cover - sqlite3 is in the stdlib
            raise ConfigurationError(str(exc)) from exc
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def connect(engine: Engine) -> None:
    """Open and close one connection, so that an unreachable database is reported clearly."""
    try:
        with engine.connect():
            pass
    except (OperationalError, SQLAlchemyDBAPIError) as exc:
        raise unavailable(engine, exc) from exc


def unavailable(engine: Engine, exc: BaseException) -> DatabaseUnavailable:
    """A ``DatabaseUnavailable`` that names where and why in one sentence."""
    url = engine.url
    cause = getattr(exc, "orig", None) or exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if is_postgresql(url):
        where = f"PostgreSQL at {url.host}:{url.port or 5432} (database '{url.database}')"
    else:
        where = f"the SQLite database {url.database}"
    return DatabaseUnavailable(f"Cannot connect to {where}: {reason.rstrip('.')}.")


def translate_error(engine: Engine, exc: BaseException, doing: str) -> DatabaseError:
    """A driver error (raw, or wrapped by SQLAlchemy) as a Phoenix error: a lost connection
    or a refusal, in one sentence."""
    orig: BaseException | None
    if isinstance(exc, SQLAlchemyDBAPIError):
        orig, invalidated = exc.orig, exc.connection_invalidated
    else:
        orig, invalidated = exc, False
    lost = invalidated or (is_postgresql(engine) and connection_lost(orig))
    if lost:
        return unavailable(engine, exc)
    reason = str(orig or exc).strip().splitlines()[0]
    return DatabaseError(f"{doing} failed: {reason}")


def connection_lost(exc: BaseException | None) -> bool:
    """A PostgreSQL error that means the connection is gone, not that a statement was
    refused: no answer at all, a connection exception (SQLSTATE class 08), or the server
    shutting down or starting (57P01-57P03)."""
    if not _is_operational(exc):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(("08", "57P01", "57P02", "57P03"))


def _is_operational(exc: BaseException | None) -> bool:
    """psycopg's OperationalError (connection trouble), without importing psycopg here."""
    return any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _redact_raw(raw: str) -> str:
    """Hide what looks like a password in a URL that could not even be parsed."""
    scheme, sep, rest = raw.partition("://")
    if sep and "@" in rest:
        userinfo, _, hostpart = rest.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:***@{hostpart}" if ":" in userinfo else raw
    return raw
