"""Price books added by admins, in the store (the shipped ones are package files, see
``phoenix_core.analysis.price_books``); which books exist at all is ``use_cases.price_books``."""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phoenix_core.analysis.price_books import PriceBook, load_price_book
from phoenix_core.errors import Conflict, ValidationFailed
from phoenix_core.store.events import EventRepository
from phoenix_core.store.tables import PriceBookRow
from phoenix_core.store.types import utcnow

__all__ = ["PRICE_BOOK_ADDED", "PriceBookRecord", "PriceBookRepository"]

log = logging.getLogger(__name__)

PRICE_BOOK_ADDED = "price_book_added"
"""The audit event of ``add``."""


class PriceBookRecord(BaseModel):
    """A stored price book and who added it when."""

    model_config = ConfigDict(frozen=True)

    book: PriceBook
    created_by: str
    created_at: datetime


class PriceBookRepository:
    """Stored price books: listed, read by name, added (never changed: add another name)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._events = EventRepository(session)

    def list(self) -> list[PriceBookRecord]:
        """Every stored book that still validates, by name."""
        rows = self._session.scalars(select(PriceBookRow).order_by(PriceBookRow.name))
        return [record for row in rows if (record := _record(row)) is not None]

    def get(self, name: str) -> PriceBookRecord | None:
        row = self._session.get(PriceBookRow, name)
        return _record(row) if row is not None else None

    def add(self, book: PriceBook, *, actor: str) -> PriceBookRecord:
        """Store ``book``; ``Conflict`` if a stored book has its name already."""
        row = PriceBookRow(
            name=book.name,
            document=book.model_dump(mode="json"),
            created_by=actor,
            created_at=utcnow(),
        )
        try:
            with self._session.begin_nested():
                self._session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"A price book named {book.name!r} exists already.") from exc
        self._events.append(
            PRICE_BOOK_ADDED,
            actor=actor,
            data={"name": book.name, "vendor": book.vendor, "meter": book.meter.value},
        )
        return PriceBookRecord(book=book, created_by=row.created_by, created_at=row.created_at)


def _record(row: PriceBookRow) -> PriceBookRecord | None:
    # Books were validated when added; one that a later, stricter PriceBook refuses is left out
    # (and logged) rather than failing every listing.
    try:
        book = load_price_book(row.document)
    except ValidationFailed as exc:
        log.warning(
            "stored price book %r no longer validates: %s",
            row.name,
            exc,
            extra={"action": "price_book_skipped"},
        )
        return None
    return PriceBookRecord(book=book, created_by=row.created_by, created_at=row.created_at)
