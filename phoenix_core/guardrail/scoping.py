"""Scoping a query to one variant's data at the receiver: every selector also selects its labels.

Every variant's collector writes into the same receiving Prometheus, each series carrying the
variant's identity labels (``phoenix_core.wire.labels``). To ask "what would this dashboard
panel show on the candidate's data?", each vector and matrix selector of the panel's query gets
equality matchers for the experiment and the variant, wherever it is: inside function
arguments, subqueries, both operands of a binary expression, ``absent()``, with ``offset`` or
``@``, without a metric name, with a ``__name__`` regex. Nothing else changes:
``parse(scoped(q))`` is ``parse(q)`` with the matchers added (tested over many queries).

The query is parsed with ``promql-parser`` and written back by ``guardrail.printer``; the text
is never edited with regexes.

A selector that already has a matcher on a scoped label (``phoenix_variant="baseline"``, or a
regex on it) is refused with ``ScopeConflict``: overriding it would change what the query asks,
keeping both would make it return nothing for every other variant. One that has exactly the
matcher being added keeps it once, so scoping twice gives the same query.

Errors (all ``ValidationFailed``, as ``PromQLError`` is):

    ScopeError                the query cannot be scoped: ``reason`` says why
    └── ScopeConflict         a selector already selects a scoped label
    PromQLError               (``phoenix_core.usage``) the query does not parse
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import promql_parser as pp

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.guardrail.printer import format_string, operator, to_promql
from phoenix_core.usage.query_analysis import parse_promql

__all__ = ["ResultType", "ScopeConflict", "ScopeError", "result_type", "scoped"]

ResultType = Literal["vector", "matrix", "scalar", "string"]


class ScopeError(ValidationFailed):
    """The query cannot be scoped to a variant; ``reason`` says why."""

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        self.reason = reason
        super().__init__([FieldError(("query",), reason)])


class ScopeConflict(ScopeError):
    """A selector of the query already selects one of the labels to scope by."""


def scoped(
    query: str, labels: Mapping[str, str], *, exclude: Mapping[str, str] | None = None
) -> str:
    """``query`` with ``label="value"`` for each of ``labels`` (and ``label!="value"`` for each
    of ``exclude``) added to every vector and matrix selector. Raises ``PromQLError`` (does not
    parse), ``ScopeConflict`` (a selector already selects a label of ``labels`` otherwise),
    ``ScopeError`` (a construct the printer cannot write)."""
    for name in (*labels, *(exclude or {})):
        if not name or name == "__name__":
            raise ValueError(f"cannot scope a query by the label {name!r}")
    expr = parse_promql(query)
    added = [(name, "=", value) for name, value in labels.items()]
    added += [(name, "!=", value) for name, value in (exclude or {}).items()]

    def matchers(selector: Any, group: Sequence[Any]) -> list[tuple[str, str, str]]:
        own = [(m.name, operator(m.op), m.value) for m in group]
        for name, value in labels.items():
            clash = [m for m in own if m[0] == name and m != (name, "=", value)]
            if clash:
                label, op, written = clash[0]
                raise ScopeConflict(
                    query,
                    f"a selector already selects {label}{op}{format_string(written)}, so the "
                    f"query cannot be scoped to {name}={format_string(value)}",
                )
        return own + [m for m in added if m not in own]

    return _write(query, expr, matchers)


def result_type(query: str) -> ResultType:
    """What Prometheus returns for ``query``: an instant ``vector``, a range ``matrix``
    (``x[5m]``, a subquery), a ``scalar`` or a ``string``. Raises ``PromQLError``."""
    return _value_type(parse_promql(query))


def _write(query: str, expr: Any, matchers: Any) -> str:
    try:
        return to_promql(expr, matchers)
    except ScopeError:
        raise
    except BaseException as exc:  # the parser's Rust panics are BaseExceptions (pyo3)
        if isinstance(exc, KeyboardInterrupt | SystemExit | MemoryError):
            raise
        raise ScopeError(query, f"cannot write the query back: {exc}") from exc


def _value_type(node: Any) -> ResultType:
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _value_type(node.expr)
    if isinstance(node, pp.Call):
        return _TYPE_NAMES[str(node.func.return_type)]
    if isinstance(node, pp.BinaryExpr):
        either = "vector" in (_value_type(node.lhs), _value_type(node.rhs))
        return "vector" if either else "scalar"
    return next((kind for types, kind in _NODE_TYPES if isinstance(node, types)), "vector")


_NODE_TYPES: tuple[tuple[Any, ResultType], ...] = (
    (pp.MatrixSelector | pp.SubqueryExpr, "matrix"),
    (pp.NumberLiteral, "scalar"),
    (pp.StringLiteral, "string"),
)  # anything else (a vector selector, an aggregation) is a vector
_TYPE_NAMES: dict[str, ResultType] = {
    str(pp.ValueType.Vector): "vector",
    str(pp.ValueType.Matrix): "matrix",
    str(pp.ValueType.Scalar): "scalar",
    str(pp.ValueType.String): "string",
}
