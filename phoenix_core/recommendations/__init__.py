"""Recommendations: reductions proposed from the inventory of the receiving store and the usage
of its metrics (drop unread metrics, alone and together, drop labels no query depends on, top-k
of process-, pod- or id-like labels), each forecast over the real series by the simulator,
priced under a price book and ranked by savings, with its usage evidence and the critical
selectors it respects; and what was considered and refused, with why. See
docs/recommendations.md.

Pure: the series come through a ``SeriesSource`` port (``FrameSeries`` in memory); the use case
``phoenix_core.use_cases.recommendations`` reads the store, Prometheus and the usage sources.
"""

from __future__ import annotations

from phoenix_core.recommendations.engine import (
    DEFAULT_SERIES_BUDGET,
    FrameSeries,
    Inputs,
    Outcome,
    Pricing,
    SeriesSource,
    rank_key,
    recommend,
)
from phoenix_core.recommendations.model import (
    Kind,
    Recommendation,
    RecommendationSet,
    Refusal,
    recommendation_id,
)
from phoenix_core.recommendations.rules import Candidate, Plan, plan

__all__ = [
    "DEFAULT_SERIES_BUDGET",
    "Candidate",
    "FrameSeries",
    "Inputs",
    "Kind",
    "Outcome",
    "Plan",
    "Pricing",
    "Recommendation",
    "RecommendationSet",
    "Refusal",
    "SeriesSource",
    "plan",
    "rank_key",
    "recommend",
    "recommendation_id",
]
