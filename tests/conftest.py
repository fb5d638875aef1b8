"""Shared fixtures: databases (SQLite and a throwaway PostgreSQL) and folder-based markers.

Set PHOENIX_TEST_DATABASE_URL (any database on a server where the user may create databases)
to use an existing PostgreSQL server instead of starting a throwaway cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from phoenix_core.store.database import make_engine
from phoenix_core.store.migrate import upgrade
from phoenix_core.store.session import Store
from support.notebooks import TIMINGS
from support.postgres import ThrowawayPostgres

_MARKER_BY_FOLDER = {"unit", "integration", "e2e", "ui", "notebook"}


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its notebook timings to the controller (``workeroutput``)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["notebook_timings"] = session.config.stash.get(TIMINGS, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller keeps each finished worker's notebook timings."""
    config: pytest.Config = node.config  # type: ignore[attr-defined]
    lines = node.workeroutput.get("notebook_timings", [])  # type: ignore[attr-defined]
    config.stash.setdefault(TIMINGS, []).extend(lines)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """How long each notebook took to execute (``support.notebooks.report_seconds``)."""
    lines = config.stash.get(TIMINGS, [])
    if lines:
        terminalreporter.section("notebook execution times")
        for line in lines:
            terminalreporter.write_line(line)


_FIRST = ("e2e", "notebook", "ui", "integration", "unit")
"""Folders in the order their tests run: the slow ones first, so that with xdist's workers
(``./dev.sh test``) the quick unit tests fill the gaps at the end instead of one worker
finishing a long end-to-end file alone."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets the marker of its folder (tests/unit → ``unit``, …), and the folders run
    in ``_FIRST``'s order (a stable sort: the same in every worker)."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in _MARKER_BY_FOLDER:
            item.add_marker(getattr(pytest.mark, folder))
    rank = {folder: i for i, folder in enumerate(_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).parent.name, len(rank)))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL to a PostgreSQL server where databases may be created and dropped."""
    existing = os.environ.get("PHOENIX_TEST_DATABASE_URL")
    if existing:
        yield existing
        return
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str, sql: str) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def _create_database(admin_url: str, template: str | None = None) -> str:
    name = f"phoenix_test_{uuid.uuid4().hex[:12]}"
    clause = f" TEMPLATE {template}" if template else ""
    _admin(admin_url, f"CREATE DATABASE {name}{clause}")
    return name


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session, cloned by ``postgres_url``."""
    name = _create_database(postgres_admin_url)
    engine = make_engine(_with_database(postgres_admin_url, name))
    upgrade(engine)
    engine.dispose()
    yield name
    _admin(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at head (a clone of the template), dropped afterwards."""
    name = _create_database(postgres_admin_url, template=postgres_template)
    yield _with_database(postgres_admin_url, name)
    _admin(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no schema), dropped afterwards."""
    name = _create_database(postgres_admin_url)
    yield _with_database(postgres_admin_url, name)
    _admin(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'phoenix.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, once on each backend."""
    fixture = "empty_sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A database at head, once on each backend."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    url = str(request.getfixturevalue("empty_sqlite_url"))
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)
