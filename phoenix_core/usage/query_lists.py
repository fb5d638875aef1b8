"""Queries in a plain list: one PromQL query a line; blank lines and ``#`` comments skipped.

Grafana's built-in variables (``$__rate_interval``, ``$__range``, …) are replaced as in
dashboards, since such lists are often copied from them. Takes the text (no I/O).
"""

from __future__ import annotations

from phoenix_core.usage.records import QuerySource, QueryUsage, usage_of
from phoenix_core.usage.template_variables import substitute_variables

__all__ = ["queries_from_list"]


def queries_from_list(text: str, file: str) -> list[QueryUsage]:
    """One record per query line of ``text``; the source is ``file`` and the 1-based line."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        query = line.strip()
        if not query or query.startswith("#"):
            continue
        where = QuerySource(kind="list", file=file, line=number)
        records.append(usage_of(where, query, substitute_variables(query)))
    return records
