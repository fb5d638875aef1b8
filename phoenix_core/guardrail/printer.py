"""PromQL text from ``promql-parser``'s AST, with extra matchers put into every selector.

The parser's AST is read-only, and its own printer (``str(expr)``, ``prettify()``) does not give
back what it parsed in every case: it writes strings without escaping them (``"a\\"b"`` comes
out as ``"a"b"``), drops a subquery's empty step (``x[5m:]`` becomes the range selector
``x[5m]``), writes ``or`` matchers and UTF-8 label names it cannot read again. This printer
writes each node the way Prometheus' grammar reads it back into the same node:

- the parser keeps parentheses as ``ParenExpr`` nodes, so children are written as they are and
  precedence needs no parentheses of its own;
- strings are double-quoted with ``\\``, ``"`` and control characters escaped; label names that
  are not identifiers are quoted (``{"a.b"="c"}``, ``by ("a.b")``);
- numbers are written so that they parse to the same float (``1e-09``, ``Inf``, ``NaN``);
- durations in one exact unit (``90s``, ``1500ms``), ``@`` times in seconds (``@ 1609746000.5``).

``tests/unit/test_guardrail_scoping.py`` checks the round trip against the parser's own dump
of its tree, over the usage tests' queries and generated ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import promql_parser as pp

from phoenix_core.wire.labels import quoted

__all__ = ["SelectorMatchers", "format_duration", "format_string", "to_promql"]

SelectorMatchers = Callable[[Any, Sequence[Any]], list[tuple[str, str, str]]]
"""Given a selector and one of its matcher groups, the matchers to write for that group, as
``(label, operator, value)`` with the operator as PromQL spells it (``=``, ``!=``, ``=~``,
``!~``)."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def to_promql(expr: Any, matchers: SelectorMatchers | None = None) -> str:
    """``expr`` (a node of ``promql_parser``) as PromQL text. ``matchers`` decides what each
    selector's matchers become (default: the ones it has)."""
    return _Printer(matchers or _own_matchers).node(expr)


def format_string(text: str) -> str:
    """``text`` as a double-quoted PromQL string that reads back as exactly ``text``."""
    return quoted(text)


def format_duration(delta: timedelta) -> str:
    """``delta`` in the largest unit that holds it exactly (``5m``, ``90s``, ``-1500ms``)."""
    ms = delta // timedelta(milliseconds=1)
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    for unit, size in _UNITS:
        if ms % size == 0 and ms >= size:
            return f"{sign}{ms // size}{unit}"
    return f"{sign}{ms}ms"  # zero


def operator(op: Any) -> str:
    """A matcher's ``MatchOp`` as PromQL spells it (the enum is not hashable: no dict)."""
    if op == pp.MatchOp.Equal:
        return "="
    if op == pp.MatchOp.NotEqual:
        return "!="
    if op == pp.MatchOp.Re:
        return "=~"
    if op == pp.MatchOp.NotRe:
        return "!~"
    raise ValueError(f"unknown matcher operator {op!r}")


def _own_matchers(selector: Any, group: Sequence[Any]) -> list[tuple[str, str, str]]:
    return [(m.name, operator(m.op), m.value) for m in group]


def _label(name: str) -> str:
    return name if _LABEL_NAME.match(name) else format_string(name)


def _labels(names: Sequence[str]) -> str:
    return "(" + ", ".join(_label(n) for n in names) + ")"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)  # the shortest text that parses back to the same float


class _Printer:
    def __init__(self, matchers: SelectorMatchers) -> None:
        self.matchers = matchers

    def node(self, node: Any) -> str:
        method = _METHODS.get(type(node))
        if method is None:
            raise ValueError(f"cannot write a {type(node).__name__} node as PromQL")
        return str(method(self, node))

    def vector_selector(self, node: Any) -> str:
        return self.selector(node) + self.modifiers(node)

    def selector(self, node: Any) -> str:
        """A vector selector without its ``@`` and ``offset``."""
        groups = node.matchers.or_matchers or [node.matchers.matchers]
        written = [self.matchers(node, group) for group in groups]
        inside = " or ".join(
            ", ".join(f"{_label(name)}{op}{format_string(value)}" for name, op, value in group)
            for group in written
        )
        name = node.name or ""
        if name and not _METRIC_NAME.match(name):
            inside = format_string(name) + (", " + inside if inside else "")
            name = ""
        return f"{name}{{{inside}}}" if inside or not name else name

    def matrix_selector(self, node: Any) -> str:
        selector = node.vector_selector
        range_ = format_duration(node.range)
        return f"{self.selector(selector)}[{range_}]{self.modifiers(selector)}"

    def subquery(self, node: Any) -> str:
        step = format_duration(node.step) if node.step is not None else ""
        range_ = format_duration(node.range)
        return f"{self.node(node.expr)}[{range_}:{step}]{self.modifiers(node)}"

    def modifiers(self, node: Any) -> str:
        """``@`` and ``offset`` of a selector or subquery (Prometheus reads either order)."""
        text = ""
        at = node.at
        if at is not None:
            if at.type == pp.AtModifierType.Start:
                text += " @ start()"
            elif at.type == pp.AtModifierType.End:
                text += " @ end()"
            else:
                text += f" @ {_timestamp(at.at)}"
        if node.offset is not None:
            text += f" offset {format_duration(node.offset)}"
        return text

    def paren(self, node: Any) -> str:
        return f"({self.node(node.expr)})"

    def unary(self, node: Any) -> str:
        inner = self.node(node.expr)
        return f"- {inner}" if inner.startswith("-") else f"-{inner}"

    def number(self, node: Any) -> str:
        return _number(node.val)

    def string(self, node: Any) -> str:
        return format_string(node.val)

    def call(self, node: Any) -> str:
        return f"{node.func.name}({', '.join(self.node(arg) for arg in node.args)})"

    def aggregate(self, node: Any) -> str:
        grouping = ""
        if node.modifier is not None:
            word = "by" if node.modifier.type == pp.AggModifierType.By else "without"
            grouping = f" {word} {_labels(node.modifier.labels)} "
        args = [self.node(node.param)] if node.param is not None else []
        return f"{node.op!s}{grouping}({', '.join([*args, self.node(node.expr)])})"

    def binary(self, node: Any) -> str:
        return f"{self.node(node.lhs)} {node.op!s}{self.bin_modifier(node)} {self.node(node.rhs)}"

    def bin_modifier(self, node: Any) -> str:
        modifier = node.modifier
        if modifier is None:
            return ""
        text = " bool" if modifier.return_bool else ""
        matching = modifier.matching
        if matching is not None:
            word = "on" if matching.type == pp.LabelModifierType.Include else "ignoring"
            text += f" {word} {_labels(matching.labels)}"
        card = modifier.card
        if card in (pp.VectorMatchCardinality.ManyToOne, pp.VectorMatchCardinality.OneToMany):
            word = "group_left" if card == pp.VectorMatchCardinality.ManyToOne else "group_right"
            text += f" {word}"
            if modifier.group_labels:
                text += f" {_labels(modifier.group_labels)}"
        fill = modifier.fill_values
        if fill is not None:
            lhs, rhs = fill.lhs, fill.rhs
            if lhs is not None and rhs is not None and lhs == rhs:
                text += f" fill ({_number(lhs)})"
            else:
                if lhs is not None:
                    text += f" fill_left ({_number(lhs)})"
                if rhs is not None:
                    text += f" fill_right ({_number(rhs)})"
        return text


def _timestamp(at: datetime) -> str:
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    seconds, rest = divmod(ms, 1000)
    return sign + (str(seconds) if rest == 0 else f"{seconds}.{rest:03d}".rstrip("0"))


_METHODS: dict[type, Callable[[_Printer, Any], str]] = {
    pp.VectorSelector: _Printer.vector_selector,
    pp.MatrixSelector: _Printer.matrix_selector,
    pp.SubqueryExpr: _Printer.subquery,
    pp.ParenExpr: _Printer.paren,
    pp.UnaryExpr: _Printer.unary,
    pp.NumberLiteral: _Printer.number,
    pp.StringLiteral: _Printer.string,
    pp.Call: _Printer.call,
    pp.AggregateExpr: _Printer.aggregate,
    pp.BinaryExpr: _Printer.binary,
}
