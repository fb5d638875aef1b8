"""Whether the usage can say that nothing reads a metric or label, and what is said when it
cannot. A query that failed to parse could read anything: by default every candidate is then
refused; with ``accept_incomplete_usage`` the recommendations are computed from the queries
that parsed, and each warns of those that did not (how many, in which sources), which it may
break. With no usage source at all nothing is proposed either way: accepting failed queries is
not accepting that nobody said who reads what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from phoenix_core.usage import QueryUsage

__all__ = ["UsageCompleteness", "completeness"]


@dataclass(frozen=True)
class UsageCompleteness:
    """What the usage read allows, and the words for it."""

    complete: bool
    """Every query of at least one source parsed."""
    refused: str | None = None
    """Why every candidate is refused (None: they are not)."""
    recommendation_warning: str | None = None
    """What each recommendation's usage evidence warns of (accepted incomplete usage)."""
    set_warning: str | None = None
    """The same for the whole set."""
    note: str | None = None
    """A note for the set: what the computation left out."""


def completeness(
    sources: Sequence[tuple[str, Sequence[QueryUsage]]], *, accept: bool
) -> UsageCompleteness:
    """From the usage sources read (``NAME@VERSION`` and the records of its queries) and
    whether an incomplete usage is accepted."""
    if not sources:
        refused = (
            "no usage source is stored, so nothing says who reads what: upload the rule files, "
            "dashboards and query lists that read these metrics (phoenix usage add)"
        )
        if accept:
            refused += (
                "; accept_incomplete_usage accepts queries that failed to parse, not a usage "
                "that is missing"
            )
        return UsageCompleteness(complete=False, refused=refused)
    failed = [(name, [r for r in records if r.status == "error"]) for name, records in sources]
    failed = [(name, records) for name, records in failed if records]
    if not failed:
        return UsageCompleteness(complete=True)
    count = sum(len(records) for _, records in failed)
    first = failed[0][1][0]
    where = f"(first: {first.source}: {first.message})"
    if not accept:
        return UsageCompleteness(
            complete=False,
            refused=f"the usage is incomplete: {_queries(count)} failed to parse, and an "
            f"unparsed query could read anything {where}; fix them, leave their sources out, "
            "or accept_incomplete_usage to recommend from the queries that parsed",
        )
    parts = [
        f"{_queries(len(records)) if n == 0 else len(records)} of {name}"
        for n, (name, records) in enumerate(failed)
    ]
    which = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    said = f"{which} failed to parse and could read any metric"
    them = "it" if count == 1 else "them"
    return UsageCompleteness(
        complete=False,
        recommendation_warning=f"{said}: this recommendation may break {them}",
        set_warning=f"{said}: the recommendations were computed from the queries that parsed "
        f"(accept_incomplete_usage), and each may break {them}",
        note=f"recommended from the queries that parsed (accept_incomplete_usage): {said} {where}",
    )


def _queries(count: int) -> str:
    return f"{count} {'query' if count == 1 else 'queries'}"
