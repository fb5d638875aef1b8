"""``phoenix controller run``: the experiment controller's loop, until interrupted."""

from __future__ import annotations

import click

from phoenix_api.cli._common import PhoenixGroup
from phoenix_core.logs import configure_logging
from phoenix_core.settings import load_settings

__all__ = ["controller"]


@click.group(cls=PhoenixGroup)
def controller() -> None:
    """The experiment controller (one acts per database; others stand by)."""


@controller.command("run")
def controller_run() -> None:
    """Run the controller loop until interrupted (SIGTERM or Ctrl-C).

    Settings: PHOENIX_DATABASE_URL and PHOENIX_CONTROLLER_* (interval, port range, timeouts,
    PROMETHEUS_URL, REMOTE_WRITE_URL, ...). With several processes on one PostgreSQL database,
    exactly one acts at a time and another takes over when it dies.
    """
    import signal
    import threading

    from phoenix_api.settings import ApiSettings
    from phoenix_core.controller import Controller, ControllerSettings
    from phoenix_core.queue import open_queue
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database
    from phoenix_core.store.session import Store

    settings = load_settings(ApiSettings)
    controller_settings = load_settings(ControllerSettings)
    configure_logging(settings.log_level)
    engine, _ = prepare_database(settings.effective_database_url)
    queue = open_queue(engine)
    loop = Controller.build(Store(engine), queue, controller_settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    database = describe(parse_database_url(settings.effective_database_url))
    click.echo(f"Phoenix controller {loop.instance} running on {database}")
    try:
        loop.run(stop)
    finally:
        queue.close()
        engine.dispose()
