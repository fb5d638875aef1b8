"""Which price books exist: the ones Phoenix ships plus the ones admins added (issue 20). The one
home for that question: the API's price-book routes and cost projections both ask here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from phoenix_core.analysis.price_books import PriceBook, builtin_price_books, load_price_book
from phoenix_core.errors import Conflict, NotFound
from phoenix_core.store.price_books import PriceBookRepository

__all__ = [
    "Origin",
    "PriceBookEntry",
    "add_price_book",
    "available",
    "entries",
    "entry",
    "price_book",
]


class Origin(StrEnum):
    """Where a price book comes from."""

    SHIPPED = "shipped"
    """A file in ``phoenix_core/analysis/price_books/``."""
    ADDED = "added"
    """Added by an admin, stored in the database."""


@dataclass(frozen=True, slots=True)
class PriceBookEntry:
    """A price book and where it comes from (who added it when, for an added one)."""

    book: PriceBook
    origin: Origin
    created_by: str | None = None
    created_at: datetime | None = None


def entries(session: Session) -> dict[str, PriceBookEntry]:
    """Every price book by name: the shipped ones first, then the added ones, each by name."""
    found = {
        name: PriceBookEntry(book, Origin.SHIPPED) for name, book in builtin_price_books().items()
    }
    for record in PriceBookRepository(session).list():
        # add_price_book refuses shipped names; a book shipped after one was stored wins
        found.setdefault(
            record.book.name,
            PriceBookEntry(record.book, Origin.ADDED, record.created_by, record.created_at),
        )
    return found


def available(session: Session) -> dict[str, PriceBook]:
    """Every price book by name (shipped and added), for pricing."""
    return {name: found.book for name, found in entries(session).items()}


def entry(session: Session, name: str) -> PriceBookEntry:
    """The price book ``name`` and its origin; ``NotFound`` lists the names there are."""
    shipped = builtin_price_books().get(name)
    if shipped is not None:
        return PriceBookEntry(shipped, Origin.SHIPPED)
    record = PriceBookRepository(session).get(name)
    if record is not None:
        return PriceBookEntry(record.book, Origin.ADDED, record.created_by, record.created_at)
    known = ", ".join(entries(session))
    raise NotFound("price book", name, detail=f"No price book '{name}' exists; there are: {known}.")


def price_book(session: Session, name: str) -> PriceBook:
    """The price book ``name``; ``NotFound`` lists the names there are."""
    return entry(session, name).book


def add_price_book(
    session: Session, document: str | bytes | Mapping[str, Any], *, actor: str
) -> PriceBookEntry:
    """Validate a user's price book (``ValidationFailed`` names each field at fault) and store
    it; ``Conflict`` if a shipped or stored book has its name already."""
    book = load_price_book(document)
    if book.name in builtin_price_books():
        raise Conflict(
            f"A price book named {book.name!r} ships with Phoenix; give yours another name."
        )
    record = PriceBookRepository(session).add(book, actor=actor)
    return PriceBookEntry(record.book, Origin.ADDED, record.created_by, record.created_at)
