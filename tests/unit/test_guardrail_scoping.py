"""Scoping a query to a variant: every selector gets the identity matchers, nothing else changes.

Two properties, checked over the usage tests' 55 worked queries, every query of the usage
fixtures, a table of constructs that are easy to write back wrongly, and generated queries:

1. the printer alone (no matchers added) gives text that parses into exactly the same tree,
   compared with the parser's own dump of it (``repr``, from Rust), not with this code's view;
2. ``parse(scoped(q))`` is ``parse(q)`` with the matchers added to every selector and every
   ``or`` group of one: a walk of both trees that takes the added matchers out of the scoped
   one (and fails if a selector lacks them) gives the same tree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser as pp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_usage_query_analysis import CASES

from phoenix_core.errors import ValidationFailed
from phoenix_core.guardrail import ScopeConflict, ScopeError, result_type, scoped
from phoenix_core.guardrail.printer import format_duration, format_string, to_promql
from phoenix_core.usage import (
    PromQLError,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)
from phoenix_core.usage.query_analysis import parse_promql
from phoenix_core.wire.labels import EXPERIMENT, VARIANT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "usage"
SCOPE = {EXPERIMENT: "exp-1", VARIANT: "top20"}
ADDED = {(EXPERIMENT, "=", "exp-1"), (VARIANT, "=", "top20")}


def _fixture_queries() -> list[str]:
    records = [
        *queries_from_rules((FIXTURES / "node-rules.yaml").read_text(), "node-rules.yaml"),
        *queries_from_dashboard((FIXTURES / "node-dashboard.json").read_text(), "node.json"),
        *queries_from_dashboard((FIXTURES / "legacy-dashboard.json").read_text(), "legacy.json"),
        *queries_from_list((FIXTURES / "runbook-queries.txt").read_text(), "runbook.txt"),
    ]
    return sorted({r.expanded for r in records if r.ok})


# Constructs the parser's own printer gets wrong, or that are easy to write back wrongly.
EDGE_CASES = [
    'count_values("a\\"b", x)',
    'label_replace(x, "dst", "$1", "src", "\\\\d+\\n(.*)")',
    'x{a="it\'s \\"quoted\\" \\\\ é\\ttab"}',
    "x{a='single'}",
    'x{a=~"\\\\d+"}',
    "x[5m:]",
    "rate(x[5m])[30m:]",
    "min_over_time(rate(x[1m])[5m:] @ 100 offset 1m)",
    "x[1h30m:90s] offset -5m",
    "x[1500ms]",
    "x @ 1609746000.5",
    "x @ end() offset 1m",
    "rate(x[5m] offset 1h @ start())",
    'x{a="1" or b="2"}',
    'x{c="3", a="1" or b="2"}',
    '{"metric.name"}',
    'x{"a.b"="c"}',
    'sum by ("quoted label") (x)',
    "sum without () (x)",
    "sum by () (x)",
    "sum(x) by (a)",
    "a * on () group_left (c) b",
    "a * on (x) group_left b",
    "a * ignoring (c) group_right b",
    "a > bool on (x) b",
    "a and on (x) b or c unless ignoring (d) e",
    "a + fill(0) b",
    "a + on (x) fill_left(1) fill_right(2) b",
    "a ^ b ^ c",
    "(a ^ b) ^ c",
    "-x ^ 2",
    "(-x) ^ 2",
    "- -x",
    "-(a + b)",
    "a - -1",
    "2 ^ -1",
    "1e-9 * x",
    "x * 1.5e300",
    "x > Inf or x < -Inf",
    "x != NaN",
    "0x1F * x",
    "1 > bool 2",
    "(1 + 2) * 3",
    "a / (b / c)",
    "topk(3, x)",
    "quantile(0.9, x)",
    "limitk(2, x)",
    '{__name__=~"node_load(1|5)", job!=""}',
    '{__name__="up"}',
    'absent(nonexistent{job="a"})',
    'absent_over_time(up{job="a"}[5m])',
    "holt_winters(x[5m], 0.3, 0.3)",
    "vector(1)",
    "time()",
    "scalar(sum(x))",
    '"a string"',
    "job:http_requests:rate5m",
]

QUERIES = sorted({*(q for q, _ in CASES), *_fixture_queries(), *EDGE_CASES})


def test_the_table_is_large() -> None:
    assert len(CASES) >= 55
    assert len(QUERIES) > 100


def tree(node: Any, added: set[tuple[str, str, str]] | None = None) -> Any:  # noqa: PLR0911
    """The tree as nested tuples. With ``added``: every selector group must hold those
    matchers, and they are left out."""

    def sub(child: Any) -> Any:
        return tree(child, added)

    if isinstance(node, pp.VectorSelector):
        groups = node.matchers.or_matchers or [node.matchers.matchers]
        out = []
        for group in groups:
            matchers = [(m.name, _op(m.op), m.value) for m in group]
            if added is not None:
                missing = added - set(matchers)
                assert not missing, f"a selector lacks {missing}: {node}"
                matchers = [m for m in matchers if m not in added]
            out.append(tuple(matchers))
        return ("selector", node.name, tuple(out), node.offset, _at(node.at))
    if isinstance(node, pp.MatrixSelector):
        return ("matrix", sub(node.vector_selector), node.range)
    if isinstance(node, pp.SubqueryExpr):
        return ("subquery", sub(node.expr), node.range, node.step, node.offset, _at(node.at))
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return (type(node).__name__, sub(node.expr))
    if isinstance(node, pp.NumberLiteral):
        return ("number", repr(node.val))
    if isinstance(node, pp.StringLiteral):
        return ("string", node.val)
    if isinstance(node, pp.Call):
        return ("call", node.func.name, tuple(sub(a) for a in node.args))
    if isinstance(node, pp.AggregateExpr):
        mod = node.modifier
        modifier = (str(mod.type), tuple(mod.labels)) if mod else None
        param = sub(node.param) if node.param is not None else None
        return ("aggregate", str(node.op), modifier, param, sub(node.expr))
    assert isinstance(node, pp.BinaryExpr), type(node)
    mod = node.modifier
    modifier = None
    if mod is not None:
        matching = (str(mod.matching.type), tuple(mod.matching.labels)) if mod.matching else None
        fill = (repr(mod.fill_values.lhs), repr(mod.fill_values.rhs)) if mod.fill_values else None
        modifier = (str(mod.card), matching, mod.return_bool, mod.group_labels, fill)
    return ("binary", str(node.op), modifier, sub(node.lhs), sub(node.rhs))


def _op(op: Any) -> str:
    return {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}[str(op).split(".")[-1]]


def _at(at: Any) -> Any:
    return None if at is None else (str(at.type), at.at)


def assert_scoped_correctly(query: str, labels: dict[str, str] = SCOPE) -> None:
    original = parse_promql(query)
    reprinted = to_promql(original)
    assert repr(parse_promql(reprinted)) == repr(original), reprinted
    text = scoped(query, labels)
    added = {(name, "=", value) for name, value in labels.items()}
    assert tree(parse_promql(text), added) == tree(original), text


@pytest.mark.parametrize("query", QUERIES)
def test_scoped_adds_the_matchers_to_every_selector_and_changes_nothing_else(query: str) -> None:
    assert_scoped_correctly(query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "sum by (job) (rate(http_requests_total[5m]))",
            'sum by (job) (rate(http_requests_total{phoenix_experiment_id="exp-1", '
            'phoenix_variant="top20"}[5m]))',
        ),
        (
            'absent(up{job="api"})',
            'absent(up{job="api", phoenix_experiment_id="exp-1", phoenix_variant="top20"})',
        ),
        (
            '{__name__=~"node_load.*"} offset 5m',
            '{__name__=~"node_load.*", phoenix_experiment_id="exp-1", phoenix_variant="top20"}'
            " offset 5m",
        ),
        (
            "max_over_time(rate(x[5m])[1h:])",
            'max_over_time(rate(x{phoenix_experiment_id="exp-1", phoenix_variant="top20"}'
            "[5m])[1h:])",
        ),
        ("vector(1) * 2", "vector(1) * 2"),
    ],
)
def test_what_scoped_queries_read_like(query: str, expected: str) -> None:
    assert scoped(query, SCOPE) == expected


def test_values_that_need_escaping_come_back_exactly() -> None:
    labels = {EXPERIMENT: 'a "quoted"\\ id\nwith é', VARIANT: "v"}
    text = scoped("rate(x[5m])", labels)
    assert_scoped_correctly("rate(x[5m])", labels)
    assert '\\"quoted\\"\\\\ id\\nwith é' in text


def test_exclusions_add_negative_matchers() -> None:
    text = scoped('up{job="api"} or up', SCOPE, exclude={"job": "phoenix_collector"})
    assert text == (
        'up{job="api", phoenix_experiment_id="exp-1", phoenix_variant="top20", '
        'job!="phoenix_collector"} or up{phoenix_experiment_id="exp-1", '
        'phoenix_variant="top20", job!="phoenix_collector"}'
    )


@pytest.mark.parametrize(
    "query",
    [
        'x{phoenix_variant="baseline"}',
        'rate(x{phoenix_variant=~"top.*"}[5m])',
        'sum(x) / sum(y{phoenix_experiment_id!="exp-1"})',
        'x{a="1" or phoenix_variant="other"}',
    ],
)
def test_a_selector_that_already_selects_a_scoped_label_is_refused(query: str) -> None:
    with pytest.raises(ScopeConflict) as caught:
        scoped(query, SCOPE)
    assert "a selector already selects phoenix_" in caught.value.reason
    assert isinstance(caught.value, ValidationFailed)


def test_the_same_matcher_is_kept_once_so_scoping_twice_changes_nothing() -> None:
    once = scoped("sum(rate(x[5m])) / sum(y)", SCOPE)
    assert scoped(once, SCOPE) == once
    assert scoped('x{phoenix_variant="top20"}', SCOPE).count("phoenix_variant") == 1


def test_a_query_that_does_not_parse_raises_promql_error() -> None:
    with pytest.raises(PromQLError):
        scoped("sum(rate(x[5m])", SCOPE)


def test_what_the_printer_cannot_read_is_a_scope_error() -> None:
    # the parser accepts a negative @ time, then panics when it is read (pyo3)
    with pytest.raises(ScopeError, match="cannot write the query back"):
        scoped("x @ -100", SCOPE)


def test_the_name_label_is_not_a_scope() -> None:
    with pytest.raises(ValueError, match="__name__"):
        scoped("x", {"__name__": "y"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("x", "vector"),
        ("sum(rate(x[5m]))", "vector"),
        ("x[5m]", "matrix"),
        ("rate(x[5m])[1h:]", "matrix"),
        ("(x[5m])", "matrix"),
        ("scalar(x)", "scalar"),
        ("1 + 2", "scalar"),
        ("time() - x", "vector"),
        ("-scalar(x)", "scalar"),
        ("vector(1)", "vector"),
        ('"text"', "string"),
    ],
)
def test_result_type(query: str, expected: str) -> None:
    assert result_type(query) == expected


def test_durations_and_strings() -> None:
    from datetime import timedelta

    assert format_duration(timedelta(minutes=5)) == "5m"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(seconds=-300)) == "-5m"
    assert format_duration(timedelta(milliseconds=1500)) == "1500ms"
    assert format_duration(timedelta(days=365)) == "365d"
    assert format_string('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\x01"'


# Generated queries: every value type in every position the grammar allows, with strings of
# any characters in matchers.

_NAMES = st.sampled_from(["x", "up", "http_requests_total", "job:x:rate5m", "on_time"])
_LABELS = st.sampled_from(["job", "pod", "code", "le", "a.b", "_x", "instance"])
_TEXT = st.text(
    st.one_of(st.sampled_from("\"\\\n\t'`{}$"), st.characters(exclude_categories=("Cs",))),
    max_size=6,
)  # characters a string must escape, often; any other too
_DURATIONS = st.sampled_from(["1m", "5m", "90s", "1h30m", "1500ms", "2d", "1h"])


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@st.composite
def _matcher(draw: st.DrawFn) -> str:
    label = draw(_LABELS)
    label_text = label if "." not in label else _string(label)
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(_TEXT) if op in ("=", "!=") else draw(st.sampled_from(["a.*", "b|c", "[0-9]+"]))
    return f"{label_text}{op}{_string(value)}"


@st.composite
def _modifiers(draw: st.DrawFn) -> str:
    text = ""
    if draw(st.booleans()):
        at = draw(st.sampled_from(["100", "1609746000.5", "start()", "end()"]))
        text += f" @ {at}"
    if draw(st.booleans()):
        text += f" offset {draw(st.sampled_from(['5m', '-1m', '1h30m']))}"
    return text


@st.composite
def _selector(draw: st.DrawFn, modifiers: bool = True) -> str:
    name = draw(st.one_of(st.none(), _NAMES))
    matchers = draw(st.lists(_matcher(), max_size=3))
    if name is None:
        matchers.append('job="api"')  # a selector without a name needs a non-empty matcher
    inside = ", ".join(matchers)
    text = f"{name or ''}{{{inside}}}" if matchers or not name else name
    return text + (draw(_modifiers()) if modifiers else "")


def _vector(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return _selector()
    smaller = st.deferred(lambda: _vector(depth - 1))
    matrix = _matrix(depth - 1)
    scalar = _scalar(depth - 1)
    agg = st.sampled_from(["sum", "avg", "max", "min", "count", "group", "stddev"])
    grouping = st.one_of(
        st.just(""),
        st.lists(_LABELS, max_size=2).map(lambda ls: f" by ({', '.join(map(_label, ls))})"),
        st.lists(_LABELS, max_size=2).map(lambda ls: f" without ({', '.join(map(_label, ls))})"),
    )
    arith = st.sampled_from(["+", "-", "*", "/", "%", "^", "atan2"])
    compare = st.sampled_from(["==", "!=", ">", "<", ">=", "<="])
    matching = st.one_of(
        st.just(""),
        st.lists(_LABELS, max_size=2).map(lambda ls: f" on ({', '.join(map(_label, ls))})"),
        st.lists(_LABELS, max_size=2).map(lambda ls: f" ignoring ({', '.join(map(_label, ls))})"),
    )
    group = st.sampled_from(["", " group_left", " group_right (job)"])
    return st.one_of(
        _selector(),
        st.builds(
            lambda f, m: f"{f}({m})", st.sampled_from(["rate", "irate", "max_over_time"]), matrix
        ),
        st.builds(lambda a, g, v: f"{a}{g} ({v})", agg, grouping, smaller),
        st.builds(lambda k, v: f"topk({k}, {v})", scalar, smaller),
        st.builds(lambda v: f'count_values("value", {v})', smaller),
        st.builds(lambda v: f"({v})", smaller),
        st.builds(lambda v: f"-{v}", smaller),
        st.builds(lambda v: f"absent({v})", smaller),
        st.builds(lambda v: f'label_replace({v}, "dst", "$1", "src", "(.*)")', smaller),
        st.builds(lambda s, v: f"histogram_quantile({s}, {v})", scalar, smaller),
        st.builds(lambda s: f"vector({s})", scalar),
        st.builds(lambda a, o, b: f"{a} {o} {b}", smaller, arith, smaller),
        st.builds(
            lambda a, o, m, g, b: f"{a} {o}{m}{g if m else ''} {b}",
            smaller,
            arith,
            matching,
            group,
            smaller,
        ),
        st.builds(lambda a, o, m, b: f"{a} {o} bool{m} {b}", smaller, compare, matching, smaller),
        st.builds(
            lambda a, o, m, b: f"{a} {o}{m} {b}",
            smaller,
            st.sampled_from(["and", "or", "unless"]),
            matching,
            smaller,
        ),
        st.builds(lambda a, o, s: f"{a} {o} {s}", smaller, st.one_of(arith, compare), scalar),
        st.builds(lambda s, o, a: f"{s} {o} {a}", scalar, arith, smaller),
    )


def _matrix(depth: int) -> st.SearchStrategy[str]:
    ranged = st.builds(
        lambda s, d, m: f"{s}[{d}]{m}", _selector(modifiers=False), _DURATIONS, _modifiers()
    )
    if depth <= 0:
        return ranged
    step = st.one_of(st.just(""), _DURATIONS)
    subquery = st.builds(
        lambda v, d, s, m: f"{v}[{d}:{s}]{m}",
        st.deferred(lambda: _vector(depth - 1)).map(lambda v: f"({v})"),
        _DURATIONS,
        step,
        _modifiers(),
    )
    return st.one_of(ranged, subquery)


def _scalar(depth: int) -> st.SearchStrategy[str]:
    numbers = st.sampled_from(["1", "0.5", "1e3", "1e-9", "Inf", "NaN", "0x1F", "2"])
    if depth <= 0:
        return numbers
    smaller = st.deferred(lambda: _scalar(depth - 1))
    return st.one_of(
        numbers,
        st.builds(lambda v: f"scalar({v})", st.deferred(lambda: _vector(depth - 1))),
        st.just("time()"),
        st.builds(
            lambda a, o, b: f"({a} {o} {b})", smaller, st.sampled_from(["+", "*", "/"]), smaller
        ),
    )


def _label(name: str) -> str:
    return _string(name) if "." in name else name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=_vector(3))
def test_generated_queries_are_scoped_correctly(query: str) -> None:
    try:
        parse_promql(query)
    except PromQLError:
        return  # not every generated text is valid (e.g. duplicate labels); the rest is checked
    assert_scoped_correctly(query)


def test_generated_queries_mostly_parse() -> None:
    """The generator is worth something only if most of what it writes is PromQL."""
    parsed = 0
    examples: list[str] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(query=_vector(3))
    def collect(query: str) -> None:
        examples.append(query)

    collect()
    for query in examples:
        try:
            parse_promql(query)
            parsed += 1
        except PromQLError:
            pass
    assert parsed >= 0.8 * len(examples), (parsed, len(examples))
