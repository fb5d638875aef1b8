"""The PromQL an inventory asks, for a selector over a window (pure text; asked by
``phoenix_core.metrics.cardinality``, each evaluated at the window's end).

``W`` below is ``last_over_time({selector}[end - start])``: the series with a sample in the
window, one per series, its metric name kept.

- ``group``: ``count by (__name__, L1, …, Lk) (W)``, the series of each combination of the
  labels' values (pandas adds them up per metric, counts each label's distinct values per
  metric and each pair's series); with no label, the series per metric.
- ``histogram``: for a label too varied to group (one value per series, say),
  ``count_values by (__name__) ("n", count by (__name__, L) (W))``: per metric, how many of
  its values have ``n`` series. Their sum is its distinct values; the sum of each metric's
  largest ``n`` bounds the series of any one of its pairs.
- ``top``: ``topk(limit, count by (L) (W))``, a varied label's biggest pairs.
- ``absent_at``: ``count by (__name__) (W unless {selector} @ t)``, the series per metric in
  the window and not present at ``t``. ``unless`` ignores the metric name unless told: the
  sides match ``on`` the name and every label name, or, when those are unknown, each side
  copies its name into an ordinary label first (``label_replace``, twice the cost).
- ``present_at``: ``count by (__name__) ({selector} @ t)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from phoenix_core.metrics.inventory import NAME
from phoenix_core.metrics.reader import MetricsUnavailable
from phoenix_core.pipelines.selectors import Selector
from phoenix_core.wire.labels import promql_string

__all__ = ["METRIC_COPY", "SERIES_PER_VALUE", "Window", "carried"]

SERIES_PER_VALUE = "phoenix_series_per_value"
"""The label ``count_values`` puts a value's series count in."""
METRIC_COPY = "__phoenix_metric__"
"""The ordinary label a side of ``unless`` copies its metric name into."""
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class Window:
    """A selector over ``[start, end]`` (UTC, whole milliseconds) and its queries."""

    selector: Selector
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start})")

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def range(self) -> str:
        """The window as a PromQL range, in milliseconds."""
        return f"{round(self.seconds * 1000)}ms"

    def match(self, *extra: str) -> str:
        """The selector's matchers in braces (values escaped), and ``extra`` ones."""
        own = [f'{m.label}{m.op}"{promql_string(m.value)}"' for m in self.selector.matchers]
        return "{" + ", ".join([*own, *extra]) + "}"

    def in_window(self, *extra: str) -> str:
        return f"last_over_time({self.match(*extra)}[{self.range}])"

    def group(self, labels: Iterable[str]) -> str:
        by = ", ".join([NAME, *_checked(labels)])
        return f"count by ({by}) ({self.in_window()})"

    def histogram(self, label: str) -> str:
        inner = f"count by ({NAME}, {_label(label)}) ({self.in_window(carried(label))})"
        return f'count_values by ({NAME}) ("{SERIES_PER_VALUE}", {inner})'

    def top(self, label: str, limit: int) -> str:
        return f"topk({limit}, count by ({_label(label)}) ({self.in_window(carried(label))}))"

    def present_at(self, at: datetime) -> str:
        return f"count by ({NAME}) ({self._at(at)})"

    def absent_at(self, at: datetime, names: Iterable[str] | None) -> str:
        """Per metric, the series in the window not present at ``at``; ``names``: every label
        name those series and the ones present at ``at`` can have, if known."""
        if names is None:
            both = f"{_named(self.in_window())} unless {_named(self._at(at))}"
        else:
            on = ", ".join(dict.fromkeys([NAME, *_checked(names)]))
            both = f"{self.in_window()} unless on({on}) {self._at(at)}"
        return f"count by ({NAME}) ({both})"

    def _at(self, at: datetime) -> str:
        return f"{self.match()} @ {at.timestamp():.3f}"


def carried(label: str) -> str:
    """The matcher of the series that carry ``label``."""
    return f'{_label(label)}!=""'


def _named(vector: str) -> str:
    return f'label_replace({vector}, "{METRIC_COPY}", "$1", "{NAME}", "(.+)")'


def _label(label: str) -> str:
    if not _LABEL_NAME.fullmatch(label):
        raise MetricsUnavailable(f"The store has a label name PromQL cannot name: {label!r}.")
    return label


def _checked(labels: Iterable[str]) -> list[str]:
    return [_label(label) for label in labels]
