"""Usage: which metrics and labels the fleet's queries read (rule files, Grafana dashboards,
plain query lists), so that no pipeline drops what a query needs. See docs/usage.md.

    records = [
        *queries_from_rules(rules_text, "rules/node.yaml"),
        *queries_from_dashboard(dashboard_json, "dashboards/node.json"),
        *queries_from_list(queries_text, "queries.txt"),
    ]
    index = UsageIndex(records)
    index.is_used("node_cpu_seconds_total")          # read by any query?
    index.uses("node_cpu_seconds_total", "cpu")      # may a pipeline drop this label? (False: yes)
    index.problems()                                 # queries that failed to parse, and why

Pure functions of the text they are given (no I/O); queries are parsed by ``promql-parser``.
Server-side only: agents never import it (import-linter).
"""

from __future__ import annotations

from phoenix_core.usage.dashboards import queries_from_dashboard
from phoenix_core.usage.label_use import LabelUse
from phoenix_core.usage.metric_ref import ANY_METRIC, MetricRef
from phoenix_core.usage.query_analysis import (
    MetricUse,
    PromQLError,
    analyze_label_values,
    analyze_query,
)
from phoenix_core.usage.query_lists import queries_from_list
from phoenix_core.usage.records import QuerySource, QueryUsage, usage_of
from phoenix_core.usage.rule_files import queries_from_rules
from phoenix_core.usage.template_variables import substitute_variables
from phoenix_core.usage.usage_index import SOURCE_COLUMNS, UsageIndex

__all__ = [
    "ANY_METRIC",
    "SOURCE_COLUMNS",
    "LabelUse",
    "MetricRef",
    "MetricUse",
    "PromQLError",
    "QuerySource",
    "QueryUsage",
    "UsageIndex",
    "analyze_label_values",
    "analyze_query",
    "queries_from_dashboard",
    "queries_from_list",
    "queries_from_rules",
    "substitute_variables",
    "usage_of",
]
