"""How the pages write times and ages: UTC to the second, ages in the largest whole unit."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["age", "parse_time", "timestamp"]

_UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware datetime; None for none."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timestamp(moment: datetime | None) -> str:
    """``2026-01-02 10:00:05 UTC``, or ``never``."""
    if moment is None:
        return "never"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(moment: datetime | None, now: datetime) -> str:
    """How long before ``now``: ``12 s``, ``5 min``, ``3 h``, ``2 d`` (whole units, rounded
    down; a moment after ``now``, a clock ahead of ours, is ``0 s``), or ``never``."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in _UNITS:
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return "0 s"
