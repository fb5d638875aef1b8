"""Query guardrail: would the fleet's dashboards and alerts still get their data on a candidate?

See docs/guardrail.md.
"""

from __future__ import annotations

from phoenix_core.guardrail.scoping import (
    ResultType,
    ScopeConflict,
    ScopeError,
    result_type,
    scoped,
)

__all__ = ["ResultType", "ScopeConflict", "ScopeError", "result_type", "scoped"]
