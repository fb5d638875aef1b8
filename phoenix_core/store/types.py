"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from phoenix_core.clock import utcnow

__all__ = ["BigIntPK", "JsonDoc", "UTCDateTime", "utcnow"]

BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit key; SQLite only auto-increments an ``INTEGER PRIMARY KEY``."""

JsonDoc = JSON().with_variant(JSONB(), "postgresql")
"""A JSON document: JSONB on PostgreSQL, JSON text on SQLite."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    SQLite hands ``DateTime(timezone=True)`` back naive; this makes it aware again, and refuses
    naive datetimes on the way in so that no local time is ever stored by accident.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
