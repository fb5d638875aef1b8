"""One recommendation that drops every metric recommended dropped on its own: when two or more
``drop_metric`` recommendations survived their forecast, the same ``drop-metrics`` template with
their names in one alternation (and the same critical selectors), to be forecast and priced as
one change by the engine (price tiers are not additive: the whole bill is priced before and
after it, not the single drops' savings summed).
"""

from __future__ import annotations

from collections.abc import Sequence

from phoenix_core.recommendations.evidence import evidence
from phoenix_core.recommendations.model import Kind, Recommendation
from phoenix_core.recommendations.rules import Candidate
from phoenix_core.usage import UsageIndex

__all__ = ["MIN_COMBINED", "unread_metrics_candidate"]

MIN_COMBINED = 2
"""The fewest single drops that make a combined one (one alone is its own recommendation)."""


def unread_metrics_candidate(
    recommended: Sequence[Recommendation], usage: UsageIndex, critical: Sequence[str]
) -> Candidate | None:
    """The candidate dropping every metric of the ``drop_metric`` recommendations among
    ``recommended`` at once, protecting ``critical``; None with fewer than ``MIN_COMBINED``."""
    names = sorted({m for r in recommended if r.kind is Kind.DROP_METRIC for m in r.metrics})
    if len(names) < MIN_COMBINED:
        return None
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]}, {names[1]}, …"
    return Candidate(
        kind=Kind.DROP_UNREAD_METRICS,
        metrics=tuple(names),
        labels=(),
        template="drop-metrics",
        # metric names hold no regex metacharacter (':' is none): the alternation is exact
        variables={"regex": "|".join(names), "critical": list(critical)},
        reads=tuple(names),
        usage=evidence(usage, names, summary=f"none of these {len(names)} metrics is read"),
        title=f"drop the {len(names)} unread metrics {shown}",
    )
