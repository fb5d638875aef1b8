"""One record per query found in a source: where it came from, what it reads, or why not.

Every query a source holds gives exactly one ``QueryUsage``: ``ok`` with the metrics it reads,
``error`` with the parser's (or the file's) message, or ``skipped`` with the reason (a Loki
target, an empty target). Nothing a source holds raises: one bad query never hides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from phoenix_core.usage.query_analysis import (
    MetricUse,
    PromQLError,
    analyze_label_values,
    analyze_query,
)

__all__ = ["QuerySource", "QueryUsage", "SourceKind", "Status", "failed", "skipped", "usage_of"]

SourceKind = Literal["rules", "dashboard", "list"]
Status = Literal["ok", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class QuerySource:
    """Where a query was found. ``file`` always; the rest as the kind of source has them:
    rule files a ``group`` and a ``rule`` (the alert or recorded metric name, ``rule_type``
    ``alert`` or ``record``); dashboards their ``dashboard_uid`` and ``dashboard_title``, then
    a ``panel_id``, ``panel_title`` and the target's ``ref_id``, or the templating ``variable``;
    query lists the ``line`` (1-based)."""

    kind: SourceKind
    file: str
    group: str | None = None
    rule: str | None = None
    rule_type: Literal["alert", "record"] | None = None
    dashboard_uid: str | None = None
    dashboard_title: str | None = None
    panel_id: int | None = None
    panel_title: str | None = None
    ref_id: str | None = None
    variable: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.group is not None:
            parts.append(f"group {self.group!r}")
        if self.rule is not None:
            parts.append(f"{self.rule_type or 'rule'} {self.rule!r}")
        if self.dashboard_uid is not None or self.dashboard_title is not None:
            parts.append(f"dashboard {self.dashboard_uid or '?'} {self.dashboard_title or ''!r}")
        if self.panel_id is not None or self.panel_title is not None:
            parts.append(
                f"panel {self.panel_id if self.panel_id is not None else '?'} "
                f"{self.panel_title or ''!r}"
            )
        if self.ref_id is not None:
            parts.append(f"target {self.ref_id}")
        if self.variable is not None:
            parts.append(f"variable {self.variable!r}")
        return " › ".join(parts)


@dataclass(frozen=True, slots=True)
class QueryUsage:
    """One query and what it reads. ``expanded`` is the text parsed (after template variables
    were replaced; equal to ``query`` when there were none). ``message`` says what went wrong
    (``error``) or why the query was not read (``skipped``)."""

    source: QuerySource
    query: str
    status: Status
    expanded: str = ""
    uses: tuple[MetricUse, ...] = ()
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def usage_of(
    source: QuerySource, query: str, expanded: str | None = None, *, label: str | None = None
) -> QueryUsage:
    """Analyse ``expanded`` (default ``query``) into a record; a parse failure becomes an
    ``error`` record. ``label``: the query is Grafana's ``label_values(query, label)``."""
    text = query if expanded is None else expanded
    try:
        uses = analyze_query(text) if label is None else analyze_label_values(text, label)
    except PromQLError as exc:
        return QueryUsage(source, query, "error", text, message=exc.reason)
    return QueryUsage(source, query, "ok", text, uses)


def failed(source: QuerySource, query: str, message: str) -> QueryUsage:
    """A record for a query (or a whole file) that could not be read."""
    return QueryUsage(source, query, "error", query, message=message)


def skipped(source: QuerySource, query: str, reason: str) -> QueryUsage:
    """A record for a query deliberately not read (not PromQL, empty)."""
    return QueryUsage(source, query, "skipped", query, message=reason)
