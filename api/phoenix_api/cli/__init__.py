"""``phoenix``: the command line of the Phoenix control plane.

Server-side commands (``api serve``, ``db …``) act on the database directly; commands that act
on experiments, hosts, pipelines, price books and usage sources come with the REST API and go
through ``phoenix_core.client``.
This module holds the root group, ``main``; each command group has a module of its own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

import phoenix_core
from phoenix_api.cli import (
    cardinality,
    controller,
    dashboards,
    db,
    demo,
    experiments,
    hosts,
    pipelines,
    price_books,
    recommendations,
    serve,
    tokens,
    usage,
)
from phoenix_api.cli._common import PhoenixGroup
from phoenix_core.settings import unknown_variable_warnings

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = ["main"]


@click.group(cls=PhoenixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(phoenix_core.__version__, prog_name="phoenix")
def main() -> None:
    """Phoenix: prove with measurements which collector pipeline a fleet should run.

    Settings come from PHOENIX_* environment variables (an unknown one is reported on
    stderr, then ignored).

    \b
    Server side (api, db, controller, token, enrolment-token):
      PHOENIX_DATABASE_URL  the database (unset: a SQLite file in PHOENIX_DATA_DIR,
                            by default ~/.local/share/phoenix)
    Through the REST API (experiment, host, pipeline, price-books, usage, cardinality,
    recommendations):
      PHOENIX_API_URL       the API's base URL (default http://127.0.0.1:8000)
      PHOENIX_TOKEN         a user's token, phx_u_... (from 'phoenix token create')
    The dashboards (dashboards serve) read PHOENIX_API_URL too; each user logs in with
    their own token.

    Every setting: docs/operations.md.
    """
    for warning in unknown_variable_warnings(
        "phoenix", _settings_classes(), others=("PHOENIX_AGENT_",)
    ):
        click.echo(f"Warning: {warning}", err=True)


def _settings_classes() -> list[type[BaseSettings]]:
    """Every settings class a ``phoenix`` command reads (``PHOENIX_AGENT_*`` are the agent's)."""
    from phoenix_api.settings import ApiSettings
    from phoenix_core.client import ClientSettings

    classes: list[type[BaseSettings]] = [ApiSettings, ClientSettings]
    if any(name.upper().startswith("PHOENIX_CONTROLLER_") for name in os.environ):
        # (its package imports the whole controller: only when one of its variables is set)
        from phoenix_core.controller.settings import ControllerSettings

        classes.append(ControllerSettings)
    return classes


main.add_command(db.db)
main.add_command(serve.api)
main.add_command(demo.demo)
main.add_command(controller.controller)
main.add_command(tokens.token)
main.add_command(tokens.enrolment_token)
main.add_command(experiments.experiment)
main.add_command(hosts.host)
main.add_command(pipelines.pipeline)
main.add_command(price_books.price_books)
main.add_command(usage.usage)
main.add_command(cardinality.cardinality)
main.add_command(recommendations.recommendations)
main.add_command(dashboards.dashboards)
