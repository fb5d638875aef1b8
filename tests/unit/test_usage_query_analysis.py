"""One PromQL query → the metrics it reads and the labels of each it depends on, worked by hand.

Notation: ``named(a, b)``: exactly labels a and b; ``every(names=…, but=…)``: every label of the
metric except ``but`` (``names``: the ones the query also names). The reasoning for each case
is in its comment; docs/usage.md states the rules.
"""

from __future__ import annotations

import pytest

from phoenix_core.errors import ValidationFailed
from phoenix_core.usage import ANY_METRIC, LabelUse, MetricRef, PromQLError, analyze_query
from phoenix_core.usage.query_analysis import analyze_label_values


def named(*labels: str) -> LabelUse:
    return LabelUse.named(labels)


def every(names: tuple[str, ...] = (), but: tuple[str, ...] = ()) -> LabelUse:
    return LabelUse.every(names=names, but=but)


def uses_of(query: str) -> dict[str, LabelUse]:
    return {use.metric.key: use.labels for use in analyze_query(query)}


CASES: list[tuple[str, dict[str, LabelUse]]] = [
    # A selector returns its series as they are: every label reaches the result.
    ("up", {"up": every()}),
    # Matchers name labels; the result still shows every label.
    (
        'http_requests_total{job="api", code=~"5.."}',
        {"http_requests_total": every(("code", "job"))},
    ),
    # The metric name as a matcher is the name, not a label use.
    ('{__name__="up", job="api"}', {"up": every(("job",))}),
    # A regex on __name__ is kept as a pattern.
    ('{__name__=~"node_load(1|5)"}', {'{__name__=~"node_load(1|5)"}': every()}),
    # No __name__ matcher at all: every metric.
    ('{job="api"}', {ANY_METRIC.key: every(("job",))}),
    # sum by: only the grouping labels reach the result, and summing is what merging does.
    ("sum by (job) (rate(http_requests_total[5m]))", {"http_requests_total": named("job")}),
    # A plain sum: the metric is read, no label is.
    ("sum(rate(http_requests_total[5m]))", {"http_requests_total": LabelUse()}),
    # sum without: every label but the removed one.
    (
        "sum without (pid) (process_cpu_seconds_total)",
        {"process_cpu_seconds_total": every(but=("pid",))},
    ),
    ("sum without (pid) (rate(x[5m]))", {"x": every(but=("pid",))}),
    # max without: merging two pids' series (their sum) changes the max: pid counts too.
    ("max without (pid) (x)", {"x": every()}),
    # count, avg: the number of series is the value; every label tells series apart.
    ("count by (job) (up)", {"up": every(("job",))}),
    (
        "avg by (instance) (rate(node_cpu_seconds_total[5m]))",
        {"node_cpu_seconds_total": every(("instance",))},
    ),
    # group: one series per group, whatever is merged beneath.
    ("group by (job) (up)", {"up": named("job")}),
    # Nested sums: every label named anywhere on the way counts (b, though the outer sum drops it).
    ("sum by (a) (sum by (a, b) (x))", {"x": named("a", "b")}),
    # sum by (a) over sum without (b): only a is demanded; b is removed, not named.
    ("sum by (a) (sum without (b) (x))", {"x": named("a")}),
    # An average of per-cpu sums: merging two cpus changes the average, so cpu counts, though
    # avg removes it; mode does not (the inner sum adds the modes up whatever merges them).
    (
        "avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total[5m])))",
        {"node_cpu_seconds_total": every(but=("mode",))},
    ),
    # topk returns chosen series with all their labels; which ones depends on every series.
    ("topk(5, x)", {"x": every()}),
    ("topk by (job) (5, x)", {"x": every(("job",))}),
    ("sum by (job) (topk(5, x))", {"x": every(("job",))}),
    # count_values: its label is named; the count depends on every series.
    ('count_values("version", build_info)', {"build_info": every(("version",))}),
    ("quantile(0.9, x)", {"x": every()}),
    # absent: only whether anything matches; the matchers' labels are what it looks at.
    ('absent(up{job="api"})', {"up": named("job")}),
    ('absent_over_time(up{job="api"}[5m])', {"up": named("job")}),
    # Subqueries keep labels; max_over_time is not linear, so every label.
    ("max_over_time(rate(x[5m])[1h:1m])", {"x": every()}),
    # ... avg_over_time is, so a sum over it needs only job.
    ("sum by (job) (avg_over_time(rate(x[5m])[1h:1m]))", {"x": named("job")}),
    # offset and @ change when, not which labels.
    ("sum by (job) (rate(x[5m] offset 1h @ start()))", {"x": named("job")}),
    ("x offset 1d", {"x": every()}),
    # Many-to-one: the many side keeps its labels; the one side is read on on ∪ group_left.
    (
        "a * on (job) group_left (team) b",
        {"a": every(("job", "team")), "b": named("job", "team")},
    ),
    # One-to-one on: the result has only the on labels.
    ("a / on (job) b", {"a": named("job"), "b": named("job")}),
    # ignoring: matching on all other labels; the ignored label is named.
    ("a / ignoring (code) b", {"a": every(("code",)), "b": every(("code",))}),
    ("a / b", {"a": every(), "b": every()}),
    # and/unless: the right side only has to exist, matched on `on`.
    ("a and on (job) b", {"a": every(("job",)), "b": named("job")}),
    ("a unless b", {"a": every(), "b": every()}),
    ("a or on (job) b", {"a": every(("job",)), "b": every(("job",))}),
    # Inside sum by (job), a many side multiplied by its one side stays linear...
    (
        "sum by (job) (a * on (instance) group_left b)",
        {"a": named("instance", "job"), "b": named("instance", "job")},
    ),
    # ... but adding is not: (a1 + b) + (a2 + b) is not (a1 + a2) + b.
    (
        "sum by (job) (a + on (instance) group_left b)",
        {"a": every(("instance", "job")), "b": named("instance", "job")},
    ),
    # scalar(): NaN unless there is exactly one series, so every label counts...
    ("scalar(x)", {"x": every()}),
    # ... unless a sum already made it one series.
    ("scalar(sum(x))", {"x": LabelUse()}),
    ("vector(1)", {}),
    ("vector(scalar(sum(x)))", {"x": LabelUse()}),
    ("time() - process_start_time_seconds", {"process_start_time_seconds": every()}),
    # histogram_quantile reads the le label.
    (
        "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
        {"request_duration_seconds_bucket": named("le")},
    ),
    (
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
        {"request_duration_seconds_bucket": every(("le",))},
    ),
    # label_replace: destination and source are named; the series pass through.
    ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up": every(("dst", "src"))}),
    ('sum by (dst) (label_replace(up, "dst", "$1", "src", "(.*)"))', {"up": named("dst", "src")}),
    (
        'sum by (team) (label_join(x, "team", "-", "org", "group"))',
        {"x": named("group", "org", "team")},
    ),
    # A filter before the sum decides per series: every label.
    ("sum by (job) (x > 5)", {"x": every(("job",))}),
    # Linear arithmetic with a scalar keeps a sum's merge-safety; anything else does not.
    ("sum by (job) (x * 2)", {"x": named("job")}),
    ("sum by (job) (2 * x)", {"x": named("job")}),
    ("sum by (job) (x / 2)", {"x": named("job")}),
    ("sum by (job) (-x)", {"x": named("job")}),
    ("sum by (job) (2 / x)", {"x": every(("job",))}),
    ("sum by (job) (x + 1)", {"x": every(("job",))}),
    # A metric read twice: the union.
    ("sum(x) / count(x)", {"x": every()}),
    ("sum by (job) (x) / on (job) sum by (job, pod) (x)", {"x": named("job", "pod")}),
    # Prometheus 2's holt_winters still parses (the parser knows Prometheus 3's grammar).
    ("holt_winters(x[5m], 0.3, 0.3)", {"x": every()}),
    ("time()", {}),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _ in CASES])
def test_label_uses_worked_by_hand(query: str, expected: dict[str, LabelUse]) -> None:
    assert uses_of(query) == expected


def test_uses_answers_the_drop_question() -> None:
    """``uses`` is the one answer: named labels and what reaches the result are used."""
    (use,) = analyze_query('sum without (pid) (rate(x{job="api"}[5m]))')
    assert use.labels.uses("job")
    assert use.labels.uses("instance")  # not removed: it reaches the result
    assert not use.labels.uses("pid")

    (use,) = analyze_query("sum by (job) (rate(x[5m]))")
    assert use.labels.uses("job")
    assert not use.labels.uses("instance")


def test_metric_patterns_match_inventory_names() -> None:
    (use,) = analyze_query('rate({__name__=~"node_network_.*_bytes_total", device!="lo"}[5m])')
    assert use.metric.is_pattern
    assert use.metric.matches("node_network_receive_bytes_total")
    assert not use.metric.matches("node_load1")
    (any_metric,) = analyze_query('{job="api"}')
    assert any_metric.metric == ANY_METRIC
    assert any_metric.metric.matches("anything_at_all")
    (exact,) = analyze_query('{__name__="up"}')
    assert exact.metric == MetricRef.exact("up")


def test_negative_name_matchers_stay_a_pattern() -> None:
    (use,) = analyze_query('{__name__=~"node_.*", __name__!="node_load1"}')
    assert use.metric.matches("node_load5")
    assert not use.metric.matches("node_load1")
    assert use.metric.key == '{__name__=~"node_.*",__name__!="node_load1"}'


def test_label_values_reads_one_label() -> None:
    """Grafana's label_values(query, label): the label's values on the query's series."""
    (use,) = analyze_label_values('node_uname_info{job="node"}', "instance")
    assert use.labels == named("instance", "job")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("sum(rate(x[5m])", "unclosed left parenthesis"),
        ("rate(x[$__rate_interval])", "unexpected character inside brackets: '$'"),
        ("", "no expression found in input"),
    ],
)
def test_a_query_that_does_not_parse_raises_promql_error(query: str, reason: str) -> None:
    with pytest.raises(PromQLError) as caught:
        analyze_query(query)
    assert caught.value.reason == reason
    assert caught.value.query == query
    assert isinstance(caught.value, ValidationFailed)
