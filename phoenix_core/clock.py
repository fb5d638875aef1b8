"""The one clock: aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)
