"""``phoenix api serve``: the API server's start-up (migration, listening socket, open-file
limit), its tuning of Python's garbage collector, and its prompt shutdown."""

from __future__ import annotations

import gc
import logging
import resource
import socket
import threading
import time
from typing import TYPE_CHECKING

import click

from phoenix_api.cli._common import PhoenixGroup
from phoenix_core.errors import ConfigurationError
from phoenix_core.logs import configure_logging
from phoenix_core.settings import load_settings

if TYPE_CHECKING:
    import uvicorn

    from phoenix_api.shutdown import Shutdown

__all__ = ["GRACE_SECONDS", "HELD_SECONDS", "api"]

log = logging.getLogger(__name__)

HELD_SECONDS = 2.0
"""On SIGTERM, how long held long-polls and live sessions have to end once told to."""
GRACE_SECONDS = 5
"""Then how long requests under way have to finish before they are cut (a bound for a hung
one; a request that finishes normally takes milliseconds)."""


@click.group(cls=PhoenixGroup)
def api() -> None:
    """The control-plane API server."""


@api.command("serve")
@click.option("--host", default=None, help="Address to listen on [env PHOENIX_HOST; 127.0.0.1].")
@click.option(
    "--port", type=int, default=None, help="Port; 0 picks a free one [env PHOENIX_PORT; 8000]."
)
def api_serve(host: str | None, port: int | None) -> None:
    """Migrate the database to head, then serve the API until interrupted.

    Prints the address it listens on as its first line of output. With PHOENIX_DASHBOARDS=true
    it also serves the dashboards under /dashboards (their address is the second line). On
    SIGTERM (or Ctrl-C) it stops at once: held long-polls are answered, live sessions closed
    (1001), requests under way finish (at most 5 s more), the controller stops.
    """
    import uvicorn

    from phoenix_api.app import create_app
    from phoenix_api.settings import ApiSettings
    from phoenix_core.store.database import describe, parse_database_url
    from phoenix_core.store.migrate import prepare_database

    settings = load_settings(ApiSettings, host=host, port=port)
    configure_logging(settings.log_level)
    _raise_open_file_limit()
    engine, status = prepare_database(settings.effective_database_url)
    engine.dispose()
    sock = _listen(settings.host, settings.port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    database = describe(parse_database_url(settings.effective_database_url))
    click.echo(
        f"Phoenix API listening on http://{shown_host}:{bound_port} "
        f"(database {database}, schema {status.current})"
    )
    app = create_app(settings)
    if settings.dashboards:
        from phoenix_api.cli.dashboards import mount_dashboards

        itself = _reachable(shown_host)
        prefix = mount_dashboards(app, f"http://{itself}:{bound_port}")
        click.echo(f"Dashboards at http://{shown_host}:{bound_port}{prefix}/")
    config = uvicorn.Config(
        app,
        log_level=None,  # keep the logging configured above, levels included
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    # Start-up's objects frozen out of the collector's sight; full collections on a clock, not
    # on the survivors' count (why: bench/README.md, "Choices in the code").
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, _NEVER)
    _collect_fully_every(settings.full_collection_seconds)
    _server(config, app.state.services.shutdown).run(sockets=[sock])


def _reachable(shown_host: str) -> str:
    """The address this process reaches itself at: a wildcard's loopback."""
    return {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(shown_host, shown_host)  # noqa: S104


def _server(config: uvicorn.Config, shutdown: Shutdown) -> uvicorn.Server:
    """uvicorn's server, except that its shutdown first ends what holds a connection open
    (``phoenix_api/shutdown.py``): uvicorn alone waits for every held long-poll to time out."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in self.servers:
                server.close()  # no new connection meanwhile (uvicorn's own shutdown does too)
            await shutdown.begin(timeout=HELD_SECONDS)
            await super().shutdown(sockets)

    return Server(config)


_NEVER = 2**31 - 1
"""A threshold the count of middle-generation collections never reaches."""


def _collect_fully_every(seconds: float) -> None:
    """A full garbage collection every ``seconds``, on a thread of its own (it holds the GIL
    while it runs, as one the collector started would)."""

    def collect() -> None:
        while True:
            time.sleep(seconds)
            gc.collect()

    threading.Thread(target=collect, name="phoenix-full-collection", daemon=True).start()


def _raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one, as Go programs do as they start:
    each agent holds a connection (its long-poll) and often a second, and the soft limit of
    a login shell is often 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (soft >= hard and hard != resource.RLIM_INFINITY):
        return
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError) as exc:
        log.warning("open files stay limited to %d (raising to %d failed: %s)", soft, wanted, exc)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc
    return sock
