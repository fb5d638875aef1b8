"""``phoenix token`` and ``phoenix enrolment-token``: create, revoke and list tokens, directly in
the database."""

from __future__ import annotations

import getpass
import json
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup
from phoenix_core.auth import Role, TokenKind
from phoenix_core.logs import configure_logging
from phoenix_core.settings import DatabaseSettings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from phoenix_core.store.session import Store
    from phoenix_core.store.tokens import TokenRecord, TokenRepository

__all__ = ["enrolment_token", "token"]


@contextmanager
def _store() -> Iterator[Store]:
    """The database of the settings in force, at head, for server-side commands."""
    from phoenix_core.store.migrate import prepare_database
    from phoenix_core.store.session import Store

    settings = load_settings(DatabaseSettings)
    configure_logging("WARNING")
    engine, _ = prepare_database(settings.effective_database_url)
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def _tokens(session: Session) -> TokenRepository:
    from phoenix_core.store.tokens import TokenRepository

    return TokenRepository(session)


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


_DURATION = re.compile(r"^(\d+)([smhd])$")


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration like 90m, 12h or 30d", param_hint="'--expires-in'"
        )
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


_EXPIRES = click.option(
    "--expires-in",
    default=None,
    metavar="DURATION",
    help="Lifetime, e.g. 12h or 30d (none: no expiry).",
)


@click.group(cls=PhoenixGroup)
def token() -> None:
    """Users' API tokens (roles viewer, operator, admin)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@_EXPIRES
def token_create(name: str, role: str, expires_in: str | None) -> None:
    """Create a token for NAME and print it once (only its hash is stored)."""
    _create_token(TokenKind.USER, name, Role(role), expires_in, f"Token for {name} (role {role}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke NAME's token: requests carrying it are refused from now on."""
    _revoke_token(TokenKind.USER, name, f"Revoked the token of {name}.")


@token.command("list")
@OUTPUT
def token_list(output: str) -> None:
    """List tokens (names, kinds, roles, dates; never their values)."""
    with _store() as store, store.session() as session:
        records = _tokens(session).list()
    _print_tokens(records, output)


@click.group("enrolment-token", cls=PhoenixGroup)
def enrolment_token() -> None:
    """Enrolment tokens: an agent exchanges one for its host's own token."""


@enrolment_token.command("create")
@click.argument("name")
@_EXPIRES
def enrolment_token_create(name: str, expires_in: str | None) -> None:
    """Create an enrolment token NAME and print it once."""
    _create_token(TokenKind.ENROLMENT, name, None, expires_in, f"Enrolment token {name} (")


@enrolment_token.command("revoke")
@click.argument("name")
def enrolment_token_revoke(name: str) -> None:
    """Revoke the enrolment token NAME (hosts already enrolled keep their own tokens)."""
    _revoke_token(TokenKind.ENROLMENT, name, f"Revoked the enrolment token {name}.")


def _create_token(
    kind: TokenKind, name: str, role: Role | None, expires_in: str | None, title: str
) -> None:
    """Create a token; its value goes to stdout (once), the explanation to stderr."""
    with _store() as store, store.session() as session:
        record, value = _tokens(session).create(
            kind, name, actor=_cli_actor(), role=role, expires_in=_duration(expires_in)
        )
    expiry = f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "no expiry"
    click.echo(f"{title}{', ' if role else ''}{expiry}); it is shown only now:", err=True)
    click.echo(value)


def _revoke_token(kind: TokenKind, name: str, done: str) -> None:
    with _store() as store, store.session() as session:
        _tokens(session).revoke(kind, name, actor=_cli_actor())
    click.echo(done)


def _print_tokens(records: Sequence[TokenRecord], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    click.echo(f"{'KIND':<10} {'NAME':<24} {'ROLE':<9} {'CREATED':<17} {'EXPIRES':<17} STATE")
    for r in records:
        state = "revoked" if r.revoked_at else "live"
        expires = f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "-"
        click.echo(
            f"{r.kind.value:<10} {r.name:<24} {r.role.value if r.role else '-':<9} "
            f"{r.created_at:%Y-%m-%d %H:%M} {expires:<17} {state}"
        )
