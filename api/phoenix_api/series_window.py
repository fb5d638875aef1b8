"""The query parameters that pick series in the receiving Prometheus, ``selector``, ``start`` and
``end``: one definition for every route that reads an inventory (``/api/v1/cardinality``,
``/api/v1/recommendations``). Checked by ``phoenix_core.use_cases.cardinality``, whose errors
name these parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from phoenix_core.use_cases.cardinality import DEFAULT_SELECTOR

__all__ = ["SeriesWindow", "SeriesWindowQuery"]


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    selector: str | None
    start: datetime | None
    end: datetime | None


def _series_window(
    selector: Annotated[
        str | None,
        Query(
            max_length=10_000,
            description=f"A series selector (default {DEFAULT_SELECTOR}: every series), "
            'e.g. {job="node"} or http_requests_total{code=~"5.."}.',
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        Query(description="RFC 3339 with a time zone, or epoch seconds (default: end - 1 h)."),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="As start (default: now); not in the future.")
    ] = None,
) -> SeriesWindow:
    return SeriesWindow(selector, start, end)


SeriesWindowQuery = Annotated[SeriesWindow, Depends(_series_window)]
