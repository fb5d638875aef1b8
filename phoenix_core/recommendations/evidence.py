"""The usage behind a recommendation: which queries read the metrics it touches, which labels of
them they depend on, and, for a top-k, which values of the ranked label each query reads.

A query reads a label *by name* when every selector of the metric in it pins the label to
values it names (``pid="1"``, ``pod=~"web-1|web-2"``): a top-k that protects those values
leaves its result as it is. Any other selector of the metric (no matcher on the label, a
negative one, a regex that is not a list of literal values, ``pid=~".*"`` from a dashboard
variable) reads *every value*: a top-k would change what it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

import promql_parser as pp

from phoenix_core.pipelines.selectors import Matcher
from phoenix_core.recommendations.model import QueryEvidence, UsageEvidence
from phoenix_core.usage import LabelUse, PromQLError, QueryUsage, UsageIndex
from phoenix_core.usage.query_analysis import parse_promql

__all__ = ["QUERIES_LISTED", "evidence", "label_use_of", "pinned_values"]

QUERIES_LISTED = 10
"""Queries a recommendation or refusal lists (``query_count`` says how many there are)."""

_LITERAL = re.compile(r"[^\\.^$*+?()\[\]{}|]+")


def label_use_of(record: QueryUsage, metric: str) -> LabelUse:
    """The labels of ``metric`` that ``record``'s query depends on (through its name or a
    pattern matching it)."""
    found = LabelUse()
    for use in record.uses:
        if use.metric.matches(metric):
            found = found | use.labels
    return found


def evidence(
    index: UsageIndex,
    metrics: Iterable[str],
    reads: Callable[[QueryUsage, str], str] | None = None,
    *,
    only: Callable[[QueryUsage, str], bool] | None = None,
    summary: str | None = None,
) -> UsageEvidence:
    """The queries reading ``metrics`` (those ``only`` keeps), each with the labels it depends
    on and, when ``reads`` is given, what it says of it; ``summary`` or a sentence counting
    them."""
    listed: list[QueryEvidence] = []
    seen: set[int] = set()
    for metric in metrics:
        for record in index.users(metric):
            if only is not None and not only(record, metric):
                continue
            if id(record) in seen:
                continue
            seen.add(id(record))
            if len(listed) < QUERIES_LISTED:
                listed.append(
                    QueryEvidence(
                        where=str(record.source),
                        query=record.query,
                        metric=metric,
                        labels=str(label_use_of(record, metric)),
                        reads=reads(record, metric) if reads is not None else "",
                    )
                )
    if summary is None:
        summary = "none: no query reads it" if not seen else f"read by {_queries(len(seen))}"
    return UsageEvidence(summary=summary, query_count=len(seen), queries=listed)


def _queries(count: int) -> str:
    return f"{count} {'query' if count == 1 else 'queries'}"


def pinned_values(record: QueryUsage, metric: str, label: str) -> frozenset[str] | None:
    """The values of ``label`` that ``record``'s query reads of ``metric`` when every selector
    of it names them; None when it reads every value (or cannot be read again)."""
    tree = _parse(record.expanded or record.query)
    if tree is None:
        return None
    values: set[str] = set()
    for selector in _selectors(tree):
        groups = selector.matchers.or_matchers or [[]]
        for extra in groups:
            matchers = [*selector.matchers.matchers, *extra]
            if not _reads(selector.name, matchers, metric):
                continue
            named = _named_values(matchers, label)
            if named is None:
                return None
            values |= named
    return frozenset(values)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Any:
    """The query's tree, or None (then it reads every value, as far as anyone can tell)."""
    try:
        return parse_promql(text)
    except PromQLError:
        return None


def _selectors(node: Any) -> Iterator[Any]:
    """Every vector selector in the tree (in matrix selectors, subqueries, arguments too)."""
    if isinstance(node, pp.VectorSelector):
        yield node
    elif isinstance(node, pp.MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        yield from _selectors(node.expr)
    elif isinstance(node, pp.AggregateExpr):
        if node.param is not None:
            yield from _selectors(node.param)
        yield from _selectors(node.expr)
    elif isinstance(node, pp.BinaryExpr):
        yield from _selectors(node.lhs)
        yield from _selectors(node.rhs)
    elif isinstance(node, pp.Call):
        for arg in node.args:
            yield from _selectors(arg)


def _reads(name: str | None, matchers: list[Any], metric: str) -> bool:
    if name:
        return bool(name == metric)
    on_name = [m for m in matchers if m.name == "__name__"]
    return all(Matcher("__name__", _op(m.op), m.value).matches(metric) for m in on_name)


def _named_values(matchers: list[Any], label: str) -> set[str] | None:
    """The values of ``label`` the matchers restrict it to, when they name them; else None."""
    named: set[str] | None = None
    for matcher in matchers:
        if matcher.name != label:
            continue
        op = _op(matcher.op)
        if op == "=" and matcher.value:
            found = {matcher.value}
        elif op == "=~" and all(_LITERAL.fullmatch(part) for part in matcher.value.split("|")):
            found = set(matcher.value.split("|"))
        else:
            continue  # a negative or open matcher does not narrow it to named values
        named = found if named is None else named & found
    return named


def _op(op: Any) -> Any:
    # the parser's MatchOp is not hashable, so no dict
    if op == pp.MatchOp.NotEqual:
        return "!="
    if op == pp.MatchOp.Re:
        return "=~"
    return "!~" if op == pp.MatchOp.NotRe else "="
