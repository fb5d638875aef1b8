"""The metrics one PromQL query reads and, per metric, the labels it depends on.

Parsed by ``promql-parser`` (Rust, Prometheus' grammar), then walked from the root down. Each
node is visited with a ``_Context``: which of its output labels the rest of the query looks at
(``demand``: all but some, or only some), the labels enclosing expressions name, and whether
the rest of the query is *merge-safe* for it: unchanged if two of its series became one series
carrying their sum, which is what dropping a label does to the series it told apart
(``drop_labels`` in docs/pipelines.md). At a selector:

- every label the query names on the way down counts (matchers, ``by``, ``on``, ``ignoring``,
  ``group_left/right``, ``label_replace``'s and ``label_join``'s labels, ``count_values``'s
  label, ``sort_by_label``'s labels, ``le`` for ``histogram_quantile``); only ``without`` lists
  are not uses: they name what is removed;
- if the path up is merge-safe (only ``sum``/``group`` aggregations and linear, label-keeping
  functions in between), the demanded labels count too: ``sum by (job) (rate(x[5m]))`` uses
  ``job`` of ``x``; ``sum without (pid) (x)`` uses all labels of ``x`` but ``pid``;
- otherwise every label counts: the result shows the series (``rate(x[5m])``, ``topk``), or
  tells them apart (``count``, ``avg``, ``max``, ``quantile``, ``count_values``, ``scalar``,
  comparisons, vector matching on all labels), so dropping any label could change it.

docs/usage.md works every construct through with examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import promql_parser as pp

from phoenix_core.errors import FieldError, ValidationFailed
from phoenix_core.pipelines.selectors import Matcher
from phoenix_core.usage.label_use import LabelUse
from phoenix_core.usage.metric_ref import MetricRef

__all__ = ["MetricUse", "PromQLError", "analyze_query", "analyze_label_values", "parse_promql"]


class PromQLError(ValidationFailed):
    """A query that does not parse as PromQL; ``reason`` is the parser's message."""

    def __init__(self, query: str, reason: str) -> None:
        self.query = query
        self.reason = reason
        super().__init__([FieldError(("query",), reason)])


@dataclass(frozen=True, slots=True)
class MetricUse:
    """One metric (or name pattern) a query reads and the labels of it the query depends on."""

    metric: MetricRef
    labels: LabelUse


# Aggregations whose result is unchanged when two input series are replaced by their sum.
_MERGE_SAFE_AGGREGATIONS = frozenset({"sum", "group"})
# Aggregations that return input series with all their labels (a subset of them).
_SELECTING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
# Functions that keep labels and are linear in the series' values (up to counter resets and
# sample alignment): f(a + b) = f(a) + f(b), so they keep a path merge-safe.
_LINEAR_FUNCTIONS = frozenset(
    {
        "rate",
        "increase",
        "irate",
        "delta",
        "idelta",
        "deriv",
        "predict_linear",
        "sum_over_time",
        "avg_over_time",
        "last_over_time",
        "sort",
        "sort_desc",
        "sort_by_label",
        "sort_by_label_desc",
        "label_replace",
        "label_join",
    }
)
# Functions whose value depends only on whether their argument has series at all.
_EXISTENCE_FUNCTIONS = frozenset({"absent", "absent_over_time"})
_BUCKET_FUNCTIONS = frozenset({"histogram_quantile", "histogram_fraction"})
# Functions Prometheus 2 had that the parser (Prometheus 3's grammar) lacks: (name, args, result).
_LEGACY_FUNCTIONS = (("holt_winters", ("Matrix", "Scalar", "Scalar"), "Vector"),)


@dataclass(frozen=True, slots=True)
class _Context:
    """How the rest of the query uses a node's output series (see the module docstring)."""

    all_labels: bool  # demand: every output label except ``labels``; else only ``labels``
    labels: frozenset[str]
    named: frozenset[str]
    merge_safe: bool

    def demanding(self, all_labels: bool, labels: Iterable[str]) -> _Context:
        return replace(self, all_labels=all_labels, labels=frozenset(labels))

    def naming(self, labels: Iterable[str]) -> _Context:
        return replace(self, named=self.named | frozenset(labels))

    def merging(self, safe: bool) -> _Context:
        """Merge-safe or not; where merging changes the result, every label tells series apart
        that must stay apart, so all of them are demanded."""
        if safe:
            return replace(self, merge_safe=True)
        return replace(self, all_labels=True, labels=frozenset(), merge_safe=False)

    def plus(self, all_labels: bool, labels: Iterable[str]) -> _Context:
        """The demand of this context and another one together."""
        other = frozenset(labels)
        if self.all_labels and all_labels:
            return self.demanding(True, self.labels & other)
        if self.all_labels:
            return self.demanding(True, self.labels - other)
        if all_labels:
            return self.demanding(True, other - self.labels)
        return self.demanding(False, self.labels | other)


_RESULT = _Context(all_labels=True, labels=frozenset(), named=frozenset(), merge_safe=False)


def analyze_query(query: str) -> tuple[MetricUse, ...]:
    """The metrics ``query`` reads with their label uses, one entry per metric (uses of a
    metric read twice are united), ordered by metric key. Raises ``PromQLError``."""
    return _analyze(query, _RESULT)


def analyze_label_values(query: str, label: str) -> tuple[MetricUse, ...]:
    """Grafana's ``label_values(query, label)``: the values of ``label`` on ``query``'s series."""
    only_label = _Context(
        all_labels=False, labels=frozenset({label}), named=frozenset({label}), merge_safe=True
    )
    return _analyze(query, only_label)


def _analyze(query: str, root: _Context) -> tuple[MetricUse, ...]:
    expr = _parse(query)
    found: dict[MetricRef, LabelUse] = {}
    _visit(expr, root, found)
    return tuple(MetricUse(ref, found[ref]) for ref in sorted(found, key=lambda r: r.key))


def parse_promql(query: str) -> Any:
    """``query``'s AST (``promql_parser`` nodes), with Prometheus 2's ``holt_winters`` known.
    Raises ``PromQLError``."""
    return _parse(query)


def _parse(query: str) -> Any:
    _register_legacy_functions()
    try:
        return pp.parse(query)
    except BaseException as exc:  # the parser's Rust panics are BaseExceptions (pyo3)
        if isinstance(exc, KeyboardInterrupt | SystemExit | MemoryError):
            raise
        raise PromQLError(query, str(exc) or type(exc).__name__) from exc


@cache
def _register_legacy_functions() -> None:
    """Teach the parser the functions old rule files still use (process-wide, once)."""
    known = []
    for name, args, result in _LEGACY_FUNCTIONS:
        try:
            pp.parse(f"{name}({', '.join(_SAMPLE_ARGS[a] for a in args)})")
        except ValueError:
            arg_types = [getattr(pp.ValueType, a) for a in args]
            known.append(pp.Function(name, arg_types, getattr(pp.ValueType, result)))
    if known:
        pp.register_extra_functions(known)


_SAMPLE_ARGS = {"Matrix": "x[1m]", "Scalar": "1", "Vector": "x"}


def _visit(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    if isinstance(node, pp.VectorSelector):
        _selector(node, ctx, found)
    elif isinstance(node, pp.MatrixSelector):
        _selector(node.vector_selector, ctx, found)
    elif isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        _visit(node.expr, ctx, found)  # negation is linear; offset/@ and ranges keep labels
    elif isinstance(node, pp.AggregateExpr):
        _aggregation(node, ctx, found)
    elif isinstance(node, pp.BinaryExpr):
        _binary(node, ctx, found)
    elif isinstance(node, pp.Call):
        _call(node, ctx, found)
    # NumberLiteral, StringLiteral: nothing read


def _selector(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    groups = node.matchers.or_matchers or [[]]
    for extra in groups:
        matchers = [*node.matchers.matchers, *extra]
        ref = _metric_ref(node.name, matchers)
        named = ctx.named | {m.name for m in matchers}
        named -= {"__name__"}
        if not ctx.merge_safe:
            use = LabelUse.every(names=named)
        elif ctx.all_labels:
            use = LabelUse.every(names=named, but=ctx.labels)
        else:
            use = LabelUse.named(named | (ctx.labels - {"__name__"}))
        found[ref] = found[ref] | use if ref in found else use


def _metric_ref(name: str | None, matchers: list[Any]) -> MetricRef:
    if name:
        return MetricRef.exact(name)
    on_name = [m for m in matchers if m.name == "__name__"]
    for m in on_name:
        if m.op == pp.MatchOp.Equal:
            return MetricRef.exact(m.value)
    return MetricRef.pattern(*(Matcher("__name__", _op(m.op), m.value) for m in on_name))


def _op(op: Any) -> Any:
    # the parser's MatchOp is not hashable, so no dict
    if op == pp.MatchOp.NotEqual:
        return "!="
    if op == pp.MatchOp.Re:
        return "=~"
    return "!~" if op == pp.MatchOp.NotRe else "="


def _aggregation(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    op = str(node.op)
    modifier = node.modifier
    grouping = frozenset(modifier.labels) if modifier else frozenset()
    by = modifier is None or modifier.type == pp.AggModifierType.By
    if node.param is not None:
        _visit(node.param, _RESULT.naming(ctx.named), found)
    if op in _SELECTING_AGGREGATIONS:
        # the chosen series keep every label; the grouping only decides among which to choose
        child = ctx.naming(grouping).merging(False)
    else:
        if by:
            child = ctx.demanding(False, grouping).naming(grouping)
        elif ctx.all_labels:
            child = ctx.demanding(True, ctx.labels | grouping)
        else:
            child = ctx.demanding(False, ctx.labels - grouping)
        if op == "count_values" and isinstance(node.param, pp.StringLiteral):
            child = child.naming({node.param.val})
        child = child.merging(op in _MERGE_SAFE_AGGREGATIONS)
    _visit(node.expr, child, found)


_SET_OPERATORS = frozenset({"and", "or", "unless"})


def _binary(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    op = str(node.op)
    lhs_vector = _is_vector(node.lhs)
    rhs_vector = _is_vector(node.rhs)
    scalar_ctx = _RESULT.naming(ctx.named)
    if not (lhs_vector and rhs_vector):
        # vector op scalar: the vector keeps its labels; only x*s, s*x and x/s are linear
        for side, is_vector, linear in (
            (node.lhs, lhs_vector, op in ("*", "/")),
            (node.rhs, rhs_vector, op == "*"),
        ):
            side_ctx = ctx.merging(ctx.merge_safe and linear) if is_vector else scalar_ctx
            _visit(side, side_ctx, found)
        return

    modifier = node.modifier
    matching = modifier.matching if modifier else None
    on = matching is not None and matching.type == pp.LabelModifierType.Include
    match_labels = frozenset(matching.labels) if matching else frozenset()
    group_labels = frozenset((modifier.group_labels or []) if modifier else [])
    ctx = ctx.naming(match_labels | group_labels)
    # what matching looks at: the `on` labels, or every label but the `ignoring` ones
    matched = (not on, match_labels)

    if op in _SET_OPERATORS:
        lhs = ctx.plus(*matched)
        # `or` returns right-hand series too; `and`/`unless` only test that they exist
        rhs = lhs if op == "or" else ctx.demanding(*matched).merging(True)
        _visit(node.lhs, lhs, found)
        _visit(node.rhs, rhs, found)
        return

    card = modifier.card if modifier else pp.VectorMatchCardinality.OneToOne
    if card == pp.VectorMatchCardinality.OneToOne:
        if on:
            # the result has only the `on` labels, and each side one series per their values,
            # so no label outside them can merge two series without the query failing anyway
            side_ctx = ctx.demanding(False, match_labels).merging(True)
        else:
            side_ctx = ctx.plus(*matched).merging(False)
        _visit(node.lhs, side_ctx, found)
        _visit(node.rhs, side_ctx, found)
        return

    many_is_lhs = card == pp.VectorMatchCardinality.ManyToOne
    linear = on and (op == "*" or (op == "/" and many_is_lhs))
    many_ctx = ctx.plus(*matched).merging(ctx.merge_safe and linear)
    if on:
        one_ctx = ctx.demanding(False, match_labels | group_labels).merging(True)
    else:
        one_ctx = ctx.demanding(*matched).merging(False)
    many, one = (node.lhs, node.rhs) if many_is_lhs else (node.rhs, node.lhs)
    _visit(many, many_ctx, found)
    _visit(one, one_ctx, found)


def _call(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    name = node.func.name
    args = node.args
    strings = [a.val for a in args if isinstance(a, pp.StringLiteral)]
    if name == "label_replace" and len(strings) == 4:
        ctx = ctx.naming((strings[0], strings[2]))  # destination, source
    elif name == "label_join" and strings:
        ctx = ctx.naming([strings[0], *strings[2:]])  # destination, sources (not the separator)
    elif name in ("sort_by_label", "sort_by_label_desc"):
        ctx = ctx.naming(strings)
    elif name in _BUCKET_FUNCTIONS:
        ctx = ctx.naming({"le"})

    if name in _LINEAR_FUNCTIONS:
        data_ctx = ctx
    elif name in _EXISTENCE_FUNCTIONS:
        data_ctx = ctx.demanding(False, ()).merging(True)
    elif name == "scalar":
        data_ctx = _RESULT.naming(ctx.named)
    else:
        data_ctx = ctx.merging(False)  # keeps labels, not linear (or not known to be)

    vectors = [a for a in args if _is_vector(a) or _is_matrix(a)]
    for arg in args:
        if name == "info" and arg is not args[0] and isinstance(arg, pp.VectorSelector):
            _info_selector(arg, ctx, found)
        elif any(arg is v for v in vectors):
            _visit(arg, data_ctx, found)
        else:
            _visit(arg, _RESULT.naming(ctx.named), found)  # scalar parameters, e.g. scalar(x)


def _info_selector(node: Any, ctx: _Context, found: dict[MetricRef, LabelUse]) -> None:
    """``info(v, {k=~".+"})``'s selector reads info metrics, ``target_info`` unless named."""
    matchers = node.matchers.matchers
    ref = _metric_ref(node.name, matchers)
    if ref.is_pattern and not any(m.name == "__name__" for m in matchers):
        ref = MetricRef.exact("target_info")
    use = LabelUse.every(names=(ctx.named | {m.name for m in matchers}) - {"__name__"})
    found[ref] = found[ref] | use if ref in found else use


def _value_type(node: Any) -> Any:
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _value_type(node.expr)
    if isinstance(node, pp.Call):
        return node.func.return_type
    if isinstance(node, pp.BinaryExpr):
        either = _is_vector(node.lhs) or _is_vector(node.rhs)
        return pp.ValueType.Vector if either else pp.ValueType.Scalar
    return next((value for kinds, value in _NODE_TYPES if isinstance(node, kinds)), None)


_NODE_TYPES: tuple[tuple[Any, Any], ...] = (
    (pp.VectorSelector | pp.AggregateExpr, pp.ValueType.Vector),
    (pp.MatrixSelector | pp.SubqueryExpr, pp.ValueType.Matrix),
    (pp.NumberLiteral, pp.ValueType.Scalar),
    (pp.StringLiteral, pp.ValueType.String),
)


def _is_vector(node: Any) -> bool:
    return bool(_value_type(node) == pp.ValueType.Vector)


def _is_matrix(node: Any) -> bool:
    return bool(_value_type(node) == pp.ValueType.Matrix)
