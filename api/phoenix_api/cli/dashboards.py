"""``phoenix dashboards serve``, and the dashboards mounted into ``phoenix api serve``.

The one place where ``phoenix_api`` meets ``phoenix_dashboards`` (import-linter's
independence contract allows these imports alone; see pyproject.toml): the dashboards are
served on their own here, or added to the API's app here when ``PHOENIX_DASHBOARDS`` is true.
Either way they read the API over HTTP, as any client does; ``phoenix_dashboards`` is imported
only when a command needs it (Panel takes a second to import).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import click

from phoenix_api.cli._common import PhoenixGroup
from phoenix_core.errors import ConfigurationError
from phoenix_core.settings import load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DASHBOARDS_PREFIX", "dashboards", "mount_dashboards"]

DASHBOARDS_PREFIX = "/dashboards"
"""Where ``phoenix api serve`` serves the dashboards when ``PHOENIX_DASHBOARDS`` is true."""
_MISSING = (
    "The dashboards need Panel: install Phoenix with its dashboards extra "
    "(pip install 'phoenix-pipelines[dashboards]')."
)


@click.group(cls=PhoenixGroup)
def dashboards() -> None:
    """The Panel dashboards (docs/dashboards.md), over the REST API (PHOENIX_API_URL)."""


@dashboards.command("serve")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=5006, show_default=True, help="Port; 0 picks a free one.")
@click.option(
    "--api-url",
    default=None,
    help="The Phoenix API the pages read [env PHOENIX_API_URL; http://127.0.0.1:8000].",
)
@click.option(
    "--allow-websocket-origin",
    "origins",
    multiple=True,
    help="A host[:port] browsers may open the pages from, besides the address and localhost "
    "(e.g. the name behind a proxy); repeatable.",
)
def dashboards_serve(
    address: str, port: int, api_url: str | None, origins: tuple[str, ...]
) -> None:
    """Serve the dashboards on their own until interrupted.

    Prints the address it listens on as its first line of output. Each user logs in with
    their own API token (from 'phoenix token create NAME --role viewer'); the token stays on
    this server for the session. The API is not touched until someone logs in.
    """
    from phoenix_core.client import ClientSettings
    from phoenix_core.logs import configure_logging

    url = load_settings(ClientSettings, api_url=api_url).api_url
    try:
        from phoenix_dashboards.serving import serve
    except ImportError as exc:
        raise ConfigurationError(_MISSING) from exc
    configure_logging("INFO")
    port = port or _free_port(address)
    shown = f"[{address}]" if ":" in address else address
    allowed = [f"{shown}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", *origins]
    serve(
        url,
        address=address,
        port=port,
        websocket_origins=allowed,
        listening=lambda: click.echo(
            f"Phoenix dashboards listening on http://{shown}:{port}/ (API {url})"
        ),
        verbose=False,
    )


def mount_dashboards(app: FastAPI, api_url: str) -> str:
    """Add the dashboards to the API's ``app`` under ``DASHBOARDS_PREFIX``, reading the API
    at ``api_url`` (its own address); the prefix."""
    try:
        from phoenix_dashboards.serving import mount
    except ImportError as exc:
        raise ConfigurationError(f"PHOENIX_DASHBOARDS is true, but: {_MISSING}") from exc
    mount(app, api_url, prefix=DASHBOARDS_PREFIX)
    return DASHBOARDS_PREFIX


def _free_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])
