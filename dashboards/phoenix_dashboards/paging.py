"""Pages of experiments that match the filters, walked through the API's cursor.

The API filters by state only; verdict and text are matched here. A page of ``want`` rows may
take several API pages, or end in the middle of one: a ``Position`` is the API page to start
from (its cursor) and how many matching rows of it earlier pages showed already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_SCANNED", "Position", "ScanResult", "scan"]

MAX_SCANNED = 2_000
"""A page stops looking after this many experiments (the next page goes on from there)."""


@dataclass(frozen=True)
class Position:
    cursor: str | None = None
    """The API page to read first (None: the newest)."""
    skip: int = 0
    """How many of its matching rows the pages before showed."""


@dataclass(frozen=True)
class ScanResult:
    rows: list[dict[str, Any]]
    next: Position | None
    """Where the next page starts; None: there is none."""
    scanned: int
    """Experiments read to fill this page."""


def scan(
    read_page: Callable[[str | None], Mapping[str, Any]],
    start: Position,
    want: int,
    keep: Callable[[Mapping[str, Any]], bool],
    max_scanned: int = MAX_SCANNED,
) -> ScanResult:
    """Up to ``want`` rows that ``keep`` accepts, from ``start`` on; ``read_page(cursor)``
    answers as ``GET /api/v1/experiments`` does (``items``, ``next_cursor``)."""
    rows: list[dict[str, Any]] = []
    cursor, skip, scanned = start.cursor, start.skip, 0
    while True:
        page = read_page(cursor)
        items = list(page["items"])
        scanned += len(items)
        matching = [item for item in items if keep(item)][skip:]
        room = want - len(rows)
        rows += matching[:room]
        if len(matching) > room:  # this API page has more: the next page starts inside it
            return ScanResult(rows, Position(cursor, skip + room), scanned)
        following = page.get("next_cursor")
        if not following:
            return ScanResult(rows, None, scanned)
        if len(rows) == want or scanned >= max_scanned:
            return ScanResult(rows, Position(following, 0), scanned)
        cursor, skip = following, 0
