"""``/api/v1/price-books``: the price books costs are projected with, shipped and added."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import Field

from phoenix_api.deps import Admin, services
from phoenix_core.analysis.price_books import PriceBook
from phoenix_core.use_cases import price_books
from phoenix_core.use_cases.price_books import Origin, PriceBookEntry

router = APIRouter(prefix="/api/v1/price-books", tags=["price books"])


class PriceBookPublic(PriceBook):
    """A price book and where it comes from."""

    origin: Origin = Field(description="shipped with Phoenix, or added by an admin")
    created_by: str | None = Field(default=None, description="Who added it (added ones).")
    created_at: datetime | None = Field(default=None, description="When (added ones).")


def _public(entry: PriceBookEntry) -> PriceBookPublic:
    return PriceBookPublic(
        **entry.book.model_dump(),
        origin=entry.origin,
        created_by=entry.created_by,
        created_at=entry.created_at,
    )


# The body is read as any JSON so that the use case validates it and its errors name the
# field as in the book (``tiers.1.up_to``); the schema documents what it must be.
_BOOK_SCHEMA = PriceBook.model_json_schema(ref_template="#/components/schemas/{model}")
_BOOK_SCHEMA.pop("$defs", None)  # Tier and Meter are components already (PriceBookPublic)
_BOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _BOOK_SCHEMA}},
    }
}


@router.get("", response_model=list[PriceBookPublic])
def list_price_books(request: Request) -> list[PriceBookPublic]:
    """Every price book: the shipped ones, then the ones admins added, each by name."""
    with services(request).store.session() as session:
        return [_public(entry) for entry in price_books.entries(session).values()]


@router.get("/{name}", response_model=PriceBookPublic)
def get_price_book(name: str, request: Request) -> PriceBookPublic:
    """One price book; 404 lists the names there are."""
    with services(request).store.session() as session:
        return _public(price_books.entry(session, name))


@router.post("", response_model=PriceBookPublic, status_code=201, openapi_extra=_BOOK_BODY)
def add_price_book(
    document: Annotated[Any, Body(description="The price book, as in the shipped YAML files.")],
    principal: Admin,
    request: Request,
    response: Response,
) -> PriceBookPublic:
    """Add a price book (admins). 422 names each field at fault (``tiers.1.up_to``); 409 if a
    shipped or added book has its name already. Added books cannot be changed: add another."""
    with services(request).store.session() as session:
        entry = price_books.add_price_book(session, document, actor=principal.actor)
    response.headers["Location"] = f"/api/v1/price-books/{entry.book.name}"
    return _public(entry)
