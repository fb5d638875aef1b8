"""``phoenix db``: bring the database's schema to head, or show where it stands."""

from __future__ import annotations

import click

from phoenix_api.cli._common import PhoenixGroup
from phoenix_core.logs import configure_logging
from phoenix_core.settings import DatabaseSettings, load_settings

__all__ = ["db"]


@click.group(cls=PhoenixGroup)
def db() -> None:
    """Database schema: upgrade it, or show where it stands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (safe to run from several processes at once)."""
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database

    settings = load_settings(DatabaseSettings)
    configure_logging("WARNING")
    engine, status = prepare_database(settings.effective_database_url)
    engine.dispose()
    url = describe(parse_database_url(settings.effective_database_url))
    click.echo(f"Database {url} is at migration {status.current} (head).")


@db.command("status")
def db_status() -> None:
    """Show the database's migration and this code's newest one."""
    from phoenix_core.store.database import connect, make_engine
    from phoenix_core.store.migrate import schema_status

    settings = load_settings(DatabaseSettings)
    engine = make_engine(settings.effective_database_url)
    try:
        connect(engine)
        status = schema_status(engine)
    finally:
        engine.dispose()
    click.echo(
        f"current: {status.current or 'none'}\nhead:    {status.head}\nstate:   {status.state}"
    )
