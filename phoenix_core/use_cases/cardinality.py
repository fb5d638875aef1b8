"""The cardinality explorer's data (``GET /api/v1/cardinality``): the inventory of the series
a selector matches in the receiving store over a window, checked before Prometheus is asked.

What each number means, and the queries: ``phoenix_core.metrics.inventory`` and
``phoenix_core.metrics.cardinality`` (and ``docs/cardinality.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from phoenix_core.clock import utcnow
from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.metrics.cardinality import InventoryReader, take_inventory
from phoenix_core.metrics.inventory import Inventory
from phoenix_core.pipelines.selectors import Selector, SelectorError, parse_selector

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_SELECTOR",
    "DEFAULT_WINDOW",
    "MAX_LIMIT",
    "MAX_WINDOW",
    "Cardinality",
]

DEFAULT_SELECTOR = '{__name__=~".+"}'
"""Every series (Prometheus refuses a selector that could match an empty label set)."""
DEFAULT_WINDOW = timedelta(hours=1)
"""The window when no start is given: the hour before the end."""
MAX_WINDOW = timedelta(days=31)
"""The longest window: every query reads every sample of the window of every series."""
DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(minutes=1)
"""How far past now an end may be (clocks differ): later, every series would count as ended."""


@dataclass(frozen=True)
class Cardinality:
    """Inventories of the store ``reader`` opens (the controller's Prometheus)."""

    reader: Callable[[], InventoryReader]
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_prometheus(cls, prometheus_url: str, timeout: float = 120) -> Cardinality:
        """The production wiring: the Prometheus at ``prometheus_url``; ``timeout`` per query
        (Prometheus' own default; a query over 1,000,000 series takes seconds)."""
        from phoenix_core.metrics.reader import PrometheusReader

        return cls(reader=lambda: PrometheusReader(prometheus_url, timeout=timeout))

    def inventory(
        self,
        selector: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Inventory:
        """The inventory of ``selector`` (default: every series) over ``[start, end]``
        (default: the hour up to now), each table cut to ``limit`` rows. ``ValidationFailed``
        names the argument at fault before anything is asked; ``MetricsUnavailable`` when
        Prometheus cannot answer."""
        parsed, start, end = self.check(selector, start, end, limit)
        with closing(self.reader()) as reader:
            return take_inventory(reader, parsed, start, end, limit)

    def check(
        self, selector: str | None, start: datetime | None, end: datetime | None, limit: int
    ) -> tuple[Selector, datetime, datetime]:
        """The parsed selector and the window, or ``ValidationFailed`` naming each argument
        at fault (``selector``, ``start``, ``end``, ``limit``)."""
        errors: list[FieldError] = []
        parsed = None
        try:
            parsed = parse_selector(DEFAULT_SELECTOR if selector is None else selector)
        except SelectorError as exc:
            errors.append(FieldError(("selector",), f"not a series selector: {exc}"))
        for name, moment in (("start", start), ("end", end)):
            if moment is not None and moment.tzinfo is None:
                errors.append(
                    FieldError((name,), "give a time zone (2026-01-31T12:00:00Z) or epoch seconds")
                )
        if not 1 <= limit <= MAX_LIMIT:
            errors.append(FieldError(("limit",), f"must be from 1 to {MAX_LIMIT:,}, not {limit}"))
        if errors:
            raise ValidationFailed(errors)
        now = self.clock()
        end = now if end is None else end
        if not EPOCH < end <= now + FUTURE_SLACK:
            when = "in the future: nothing is present then" if end > now else "before 1970"
            raise ValidationFailed([FieldError(("end",), f"{end.isoformat()} is {when}")])
        start = end - DEFAULT_WINDOW if start is None else start
        if start >= end:
            reason = f"{start.isoformat()} must be before end ({end.isoformat()})"
        elif end - start > MAX_WINDOW:
            reason = f"the window may be {MAX_WINDOW.days} days long at most"
        elif start < EPOCH:
            reason = f"{start.isoformat()} is before 1970"
        else:
            assert parsed is not None
            return parsed, start, end
        raise ValidationFailed([FieldError(("start",), reason)])
