"""What the command groups share: the group class that prints Phoenix's errors as one line, the
``--output`` option, and the REST API client the settings describe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from phoenix_core.errors import PhoenixError
from phoenix_core.settings import load_settings

if TYPE_CHECKING:
    from phoenix_core.client import PhoenixClient

__all__ = ["OUTPUT", "PhoenixGroup", "api_client"]


class PhoenixGroup(click.Group):
    """Turns every ``PhoenixError`` into one line on stderr and exit status 1: no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PhoenixError as exc:
            raise click.ClickException(str(exc)) from exc


OUTPUT = click.option(
    "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def api_client() -> PhoenixClient:
    from phoenix_core.client import ClientSettings

    return load_settings(ClientSettings).client()
