"""Query guardrail: would the fleet's dashboards and alerts still get their data on a candidate?

    from phoenix_core.guardrail import evaluation_times, preserved_queries

    result = preserved_queries(
        reader, experiment_id, "baseline", ["top20"], evaluation_times(start, end), records
    )
    result.kpi          # per candidate: queries_preserved (%), and how many queries came to what
    result.findings     # per candidate and query: its source, outcome and the finding in words
    result.lines("top20")   # ["alert `PodErrors`: returns 0 series instead of 4", ...]

``scoped`` (every selector gets the variant's identity matchers), ``compare_results`` (two
results, one finding) are pure; ``preserved_queries`` reads the receiver through a
``MetricsReader``. See docs/guardrail.md.
"""

from __future__ import annotations

from phoenix_core.guardrail.comparison import (
    DEFAULT_TOLERANCE,
    Comparison,
    combine,
    compare_results,
    format_series,
)
from phoenix_core.guardrail.evaluation import (
    FINDING_COLUMNS,
    KPI,
    KPI_COLUMNS,
    OUTCOMES,
    GuardrailResult,
    evaluation_times,
    preserved_queries,
    subject,
)
from phoenix_core.guardrail.scoping import (
    ResultType,
    ScopeConflict,
    ScopeError,
    result_type,
    scoped,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "FINDING_COLUMNS",
    "KPI",
    "KPI_COLUMNS",
    "OUTCOMES",
    "Comparison",
    "GuardrailResult",
    "ResultType",
    "ScopeConflict",
    "ScopeError",
    "combine",
    "compare_results",
    "evaluation_times",
    "format_series",
    "preserved_queries",
    "result_type",
    "scoped",
    "subject",
]
