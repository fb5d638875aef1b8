"""``phoenix price-books``: list, show and add the price books costs are projected with, through
the REST API."""

from __future__ import annotations

import datetime
import json
from typing import IO, Any

import click

from phoenix_api.cli._common import OUTPUT, PhoenixGroup, api_client

__all__ = ["price_books"]


@click.group("price-books", cls=PhoenixGroup)
def price_books() -> None:
    """Price books, shipped and added, through the REST API (PHOENIX_API_URL, PHOENIX_TOKEN).

    A price book is what a vendor charges for one meter, in tiers; docs/cost.md describes
    the format (the shipped files in phoenix_core/analysis/price_books/ are examples).
    """


@price_books.command("list")
@OUTPUT
def price_books_list(output: str) -> None:
    """Every price book: the shipped ones, then the ones admins added."""
    with api_client() as client:
        _print_books(client.price_books(), output)


@price_books.command("show")
@click.argument("name")
@OUTPUT
def price_books_show(name: str, output: str) -> None:
    """One price book, with its tiers."""
    with api_client() as client:
        book = client.price_book(name)
    if output == "json":
        click.echo(json.dumps(book, indent=2))
        return
    _print_books([book], output)
    per = f"{book['per']:,.0f}" if float(book["per"]).is_integer() else f"{book['per']:g}"
    lower = 0.0
    for tier in book["tiers"]:
        upper = "no bound" if tier["up_to"] is None else f"{tier['up_to']:,.0f}"
        click.echo(
            f"  from {lower:,.0f} to {upper}: {tier['price']:g} {book['currency']} per {per}"
        )
        lower = tier["up_to"] or lower


@price_books.command("add")
@click.argument("book_file", type=click.File("r"))
@OUTPUT
def price_books_add(book_file: IO[str], output: str) -> None:
    """Add the price book in BOOK_FILE (YAML or JSON; '-' reads standard input). Admins only;
    a name a shipped or added book has is refused, as is a field at fault, by name."""
    import yaml

    try:
        document = yaml.safe_load(book_file)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="BOOK_FILE") from exc
    with api_client() as client:
        added = client.add_price_book(_as_json(document))
    if output == "json":
        click.echo(json.dumps(added, indent=2))
        return
    click.echo(f"Price book {added['name']} is added.")


def _as_json(value: Any) -> Any:
    """YAML's dates (``taken: 2027-01-15``) as the ISO text JSON carries."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _print_books(books: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(books, indent=2))
        return
    click.echo(f"{'NAME':<34} {'ORIGIN':<8} {'METER':<17} {'CUR':<4} {'TAKEN':<10}  VENDOR")
    for b in books:
        added = "" if b["origin"] == "shipped" else f"  (added by {b['created_by']})"
        click.echo(
            f"{b['name']:<34} {b['origin']:<8} {b['meter']:<17} {b['currency']:<4} "
            f"{b['taken']:<10}  {b['vendor']}{added}"
        )
