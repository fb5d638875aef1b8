"""``phoenix``: the command line of the Phoenix control plane.

Server-side commands (``api serve``, ``db …``) act on the database directly; commands that act
on experiments, hosts and price books come with the REST API and go through
``phoenix_core.client``.
This module holds the root group, ``main``; each command group has a module of its own.
"""

from __future__ import annotations

import click

import phoenix_core
from phoenix_api.cli import controller, db, demo, experiments, hosts, price_books, serve, tokens
from phoenix_api.cli._common import PhoenixGroup

__all__ = ["main"]


@click.group(cls=PhoenixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(phoenix_core.__version__, prog_name="phoenix")
def main() -> None:
    """Phoenix: prove with measurements which collector pipeline a fleet should run.

    Settings come from PHOENIX_* environment variables; the database is
    PHOENIX_DATABASE_URL (unset: a SQLite file in PHOENIX_DATA_DIR, by default
    ~/.local/share/phoenix).
    """


main.add_command(db.db)
main.add_command(serve.api)
main.add_command(demo.demo)
main.add_command(controller.controller)
main.add_command(tokens.token)
main.add_command(tokens.enrolment_token)
main.add_command(experiments.experiment)
main.add_command(hosts.host)
main.add_command(price_books.price_books)
