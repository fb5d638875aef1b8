"""Stored price books and the use cases that say which books exist, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from phoenix_core.analysis.price_books import builtin_price_books, load_price_book
from phoenix_core.errors import Conflict, NotFound, ValidationFailed
from phoenix_core.store.events import EventRepository
from phoenix_core.store.price_books import PriceBookRepository
from phoenix_core.store.session import Store
from phoenix_core.store.tables import PriceBookRow
from phoenix_core.use_cases import price_books
from phoenix_core.use_cases.price_books import Origin

YAML = """
name: our-amazon
vendor: Amazon Web Services
meter: samples_ingested
currency: USD
per: 10_000_000
tiers:
  - {up_to: 1_000_000_000, price: 0.80}
  - {up_to: null, price: 0.30}
source: https://aws.amazon.com/prometheus/pricing/
taken: 2027-02-01
"""


def test_a_book_is_stored_listed_and_read_back(store: Store) -> None:
    book = load_price_book(YAML)
    with store.session() as session:
        added = PriceBookRepository(session).add(book, actor="user:ada")
    with store.session() as session:
        repository = PriceBookRepository(session)
        listed = repository.list()
        got = repository.get("our-amazon")
        assert repository.get("new-relic") is None  # shipped books are not stored
        events = EventRepository(session).list()
    assert [r.book for r in listed] == [book]
    assert got == added
    assert (added.created_by, added.created_at.tzinfo is not None) == ("user:ada", True)
    assert [(e.type, e.actor, e.data["name"]) for e in events] == [
        ("price_book_added", "user:ada", "our-amazon")
    ]


def test_a_stored_name_is_a_conflict(store: Store) -> None:
    book = load_price_book(YAML)
    with store.session() as session:
        PriceBookRepository(session).add(book, actor="a")
    with store.session() as session, pytest.raises(Conflict, match="'our-amazon' exists"):
        PriceBookRepository(session).add(book.model_copy(update={"vendor": "x"}), actor="b")
    with store.session() as session:
        assert [r.created_by for r in PriceBookRepository(session).list()] == ["a"]


def test_available_holds_the_shipped_books_and_the_added_ones(store: Store) -> None:
    with store.session() as session:
        before = price_books.available(session)
        entry = price_books.add_price_book(session, YAML, actor="user:ada")
    with store.session() as session:
        after = price_books.available(session)
        shipped = price_books.entry(session, "datadog-custom-metrics")
        assert price_books.price_book(session, "our-amazon") == entry.book
    assert before == builtin_price_books()
    assert after == {**builtin_price_books(), "our-amazon": entry.book}
    assert (entry.origin, entry.created_by) == (Origin.ADDED, "user:ada")
    assert (shipped.origin, shipped.created_by) == (Origin.SHIPPED, None)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (YAML.replace("1_000_000_000", "null"), "tiers.0.up_to"),
        (YAML.replace("vendor: Amazon Web Services\n", ""), "vendor"),
        ({"name": "x"}, "meter"),
    ],
)
def test_a_bad_book_is_refused_naming_the_field(store: Store, document: Any, path: str) -> None:
    with store.session() as session, pytest.raises(ValidationFailed) as refused:
        price_books.add_price_book(session, document, actor="a")
    assert path in [e.path for e in refused.value.errors]
    with store.session() as session:
        assert PriceBookRepository(session).list() == []


def test_shipped_names_cannot_be_added_and_unknown_names_are_listed(store: Store) -> None:
    document = YAML.replace("name: our-amazon", "name: amazon-managed-prometheus")
    with store.session() as session, pytest.raises(Conflict, match="ships with Phoenix"):
        price_books.add_price_book(session, document, actor="a")
    with store.session() as session, pytest.raises(NotFound) as missing:
        price_books.price_book(session, "nope")
    assert "'nope'" in str(missing.value)
    assert "amazon-managed-prometheus" in str(missing.value)


def test_a_stored_book_that_no_longer_validates_is_left_out(store: Store) -> None:
    with store.session() as session:
        session.add(PriceBookRow(name="old", document={"name": "old"}, created_by="a"))
    with store.session() as session:
        assert PriceBookRepository(session).list() == []
        assert PriceBookRepository(session).get("old") is None
