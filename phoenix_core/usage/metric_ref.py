"""The metric a selector reads: an exact name, or a pattern over names to match an inventory.

``up`` and ``{__name__="up"}`` give the name ``up``; ``{__name__=~"node_.*"}`` gives a pattern
kept as its ``__name__`` matchers, and a selector with no ``__name__`` matcher at all
(``{job="api"}``) reads every metric (``ANY_METRIC``).
"""

from __future__ import annotations

from dataclasses import dataclass

from phoenix_core.pipelines.selectors import Matcher

__all__ = ["ANY_METRIC", "MetricRef"]


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One metric name, or (``name`` None) the ``__name__`` matchers every name read must pass."""

    name: str | None = None
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def exact(cls, name: str) -> MetricRef:
        return cls(name=name)

    @classmethod
    def pattern(cls, *matchers: Matcher) -> MetricRef:
        """Names passing every matcher (each on ``__name__``); none at all: every metric."""
        if any(m.label != "__name__" for m in matchers):
            raise ValueError("a metric pattern holds only __name__ matchers")
        return cls(matchers=matchers or (Matcher("__name__", "=~", ".+"),))

    @property
    def is_pattern(self) -> bool:
        return self.name is None

    @property
    def key(self) -> str:
        """The name, or the pattern as a selector (``{__name__=~"node_.*"}``): stable, readable."""
        if self.name is not None:
            return self.name
        inner = ",".join(f"__name__{m.op}{_quote(m.value)}" for m in self.matchers)
        return "{" + inner + "}"

    def matches(self, metric: str) -> bool:
        """Whether this reference reads the metric called ``metric`` (regexes anchored)."""
        if self.name is not None:
            return metric == self.name
        return all(m.matches(metric) for m in self.matchers)

    def __str__(self) -> str:
        return self.key


ANY_METRIC = MetricRef.pattern()
"""What a selector without any ``__name__`` matcher reads: every metric."""


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
