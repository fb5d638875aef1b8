"""Evaluating usage records on each variant through a reader: what is asked, and what comes of it.

The reader here answers each scoped query from a table (the same value at every time), and
keeps what it was asked; tests/e2e/test_query_guardrail.py does the same against Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from phoenix_core import guardrail
from phoenix_core.guardrail import (
    KPI_COLUMNS,
    evaluation_times,
    preserved_queries,
    scoped,
    subject,
)
from phoenix_core.metrics.reader import MetricsUnavailable, to_frame
from phoenix_core.usage import QuerySource, queries_from_dashboard, queries_from_list
from phoenix_core.usage.records import QueryUsage, skipped, usage_of
from phoenix_core.wire.labels import EXPERIMENT, VARIANT

AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SOURCE = QuerySource("list", "queries.txt", line=1)
Answer = list[tuple[dict[str, str], float]] | Exception


class TableReader:
    """Answers a query from ``table`` (scoped text → series, or an exception to raise)."""

    def __init__(self, table: dict[str, Answer]) -> None:
        self.table = table
        self.asked: list[tuple[str, str, Any]] = []

    def _answer(self, query: str, times: list[datetime]) -> pd.DataFrame:
        answer = self.table.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return to_frame(
            [
                {"metric": labels, "values": [[t.timestamp(), str(v)] for t in times]}
                for labels, v in answer
            ]
        )

    def instant(self, query: str, at: datetime | None = None) -> pd.DataFrame:
        assert at is not None
        self.asked.append(("instant", query, at))
        return self._answer(query, [at])

    def range(self, query: str, start: datetime, end: datetime, step: float) -> pd.DataFrame:
        self.asked.append(("range", query, (start, end, step)))
        count = int((end - start).total_seconds() // step) + 1
        return self._answer(query, [start + timedelta(seconds=step * k) for k in range(count)])

    def close(self) -> None:
        """Nothing to release."""


def on(variant: str, query: str) -> str:
    return scoped(
        query, {EXPERIMENT: "exp", VARIANT: variant}, exclude={"job": "phoenix_collector"}
    )


def record(query: str, line: int = 1) -> QueryUsage:
    return usage_of(QuerySource("list", "queries.txt", line=line), query)


def run(table: dict[str, Answer], records: list[QueryUsage], **options: Any) -> Any:
    reader = TableReader(table)
    result = preserved_queries(reader, "exp", "baseline", ["cand"], AT, records, **options)
    return result, reader


PODS = [({"pod": p}, float(i + 1)) for i, p in enumerate(["a", "b"])]


def test_the_kpi_is_the_share_of_compared_queries_preserved() -> None:
    by_pod = "sum by (pod) (x)"
    total = "sum(x)"
    quiet = "sum(y)"
    table: dict[str, Answer] = {
        on("baseline", by_pod): PODS,
        on("cand", by_pod): [({}, 3.0)],
        on("baseline", total): [({}, 3.0)],
        on("cand", total): [({}, 3.0)],
    }
    records = [
        record(by_pod, 1),
        record(total, 2),
        record(quiet, 3),
        record("sum(", 4),
        skipped(SOURCE, "{app='x'} |= 'e'", "datasource type 'loki' is not Prometheus"),
    ]
    result, _ = run(table, records)
    assert list(result.kpi.columns) == list(KPI_COLUMNS)
    assert result.kpi.iloc[0].to_dict() == {
        "candidate": "cand",
        "queries_preserved": 50.0,
        "preserved": 1,
        "compared": 2,
        "changed": 1,
        "no_data": 1,
        "failed": 0,
        "not_evaluated": 2,
        "queries": 5,
    }
    assert result.value("cand") == 50.0
    assert result.findings["outcome"].tolist() == [
        "changed",
        "preserved",
        "no_data",
        "not_evaluated",
        "not_evaluated",
    ]
    assert result.lines("cand") == ["query at queries.txt:1: loses label `pod` (2 series become 1)"]
    assert result.evaluated_at == (AT,)


def test_nothing_compared_is_no_value_never_100() -> None:
    result, _ = run({}, [record("sum(y)")])
    assert math.isnan(result.value("cand"))


def test_each_side_is_read_around_the_time() -> None:
    _, reader = run({}, [record("sum(rate(x[5m]))")], scrape_interval=15)
    base = on("baseline", "sum(rate(x[5m]))")
    cand = on("cand", "sum(rate(x[5m]))")
    around = (AT - timedelta(seconds=15), AT + timedelta(seconds=15), 15)
    assert reader.asked == [("range", base, around), ("range", cand, around)]
    assert 'phoenix_variant="cand"' in cand
    assert 'job!="phoenix_collector"' in cand


def test_a_range_vector_result_is_read_at_the_time_on_both_sides() -> None:
    _, reader = run({}, [record("x[5m]")])
    assert [kind for kind, _, _ in reader.asked] == ["instant", "instant"]


def test_without_a_scrape_interval_both_sides_are_read_at_the_time() -> None:
    _, reader = run({}, [record("sum(x)")], scrape_interval=0)
    assert [kind for kind, _, _ in reader.asked] == ["instant", "instant"]


def test_a_query_read_by_several_sources_is_evaluated_once() -> None:
    result, reader = run({}, [record("sum(x)", 1), record("sum(x)", 2)])
    assert len(reader.asked) == 2
    assert len(result.findings) == 2


def test_several_times_and_candidates() -> None:
    table: dict[str, Answer] = {on(v, "up"): [({"job": "a"}, 1.0)] for v in ("baseline", "c1")}
    reader = TableReader(table)
    times = [AT, AT + timedelta(minutes=5), AT + timedelta(minutes=10)]
    result = preserved_queries(reader, "exp", "baseline", ["c1", "c2"], times, [record("up")])
    assert len(reader.asked) == 9  # per time: the baseline once, each candidate once
    assert result.kpi["queries_preserved"].tolist() == [100.0, 0.0]
    assert result.lines("c2") == ["query at queries.txt:1: returns 0 series instead of 1"]


def test_a_candidate_query_the_receiver_refuses_is_a_changed_finding() -> None:
    refused = MetricsUnavailable(
        f"Prometheus at http://p refused query {on('cand', 'sum(x)')!r}: HTTP Status Code 400: "
        "bad_data: parse error."
    )
    table: dict[str, Answer] = {
        on("baseline", "sum(x)"): [({}, 1.0)],
        on("cand", "sum(x)"): refused,
    }
    result, _ = run(table, [record("sum(x)")])
    assert result.findings["outcome"].tolist() == ["changed"]
    assert result.findings["finding"].iloc[0] == (
        "fails at the receiver (Prometheus at http://p refused query: HTTP Status Code 400: "
        "bad_data: parse error.), where the baseline's returns 1 series"
    )


def test_a_baseline_query_that_fails_is_not_compared() -> None:
    timeout = MetricsUnavailable(
        f"Prometheus at http://p did not answer query {on('baseline', 'sum(x)')!r} within 30 s."
    )
    result, _ = run({on("baseline", "sum(x)"): timeout}, [record("sum(x)")])
    assert result.findings["outcome"].tolist() == ["failed"]
    assert result.findings["finding"].iloc[0] == (
        "not compared: the baseline's query fails: Prometheus at http://p did not answer query "
        "within 30 s."
    )
    assert math.isnan(result.value("cand"))


@pytest.mark.parametrize(
    ("query", "finding"),
    [
        (
            'x{phoenix_variant="baseline"}',
            'not evaluated: a selector already selects phoenix_variant="baseline", so the query '
            'cannot be scoped to phoenix_variant="cand"',
        ),
        ('"text"', "not evaluated: the query is a string, which reads no series"),
    ],
)
def test_queries_that_cannot_be_evaluated_say_why(query: str, finding: str) -> None:
    result, reader = run({}, [record(query)])
    assert (result.findings["outcome"].iloc[0], result.findings["finding"].iloc[0]) == (
        "not_evaluated",
        finding,
    )
    assert reader.asked == []


DASHBOARD = {
    "uid": "d",
    "title": "Fleet",
    "templating": {
        "list": [
            {
                "name": "job",
                "type": "query",
                "datasource": "prom",
                "query": "label_values(up, job)",
            },
            {"name": "m", "type": "query", "datasource": "prom", "query": "metrics(node_load)"},
        ]
    },
}


def test_dashboard_variables_compare_the_values_they_list() -> None:
    records = queries_from_dashboard(DASHBOARD, "d.json")
    _, reader = run({}, records, scrape_interval=0)
    asked = [query for _, query, _ in reader.asked]
    assert asked[0] == f"group by (job) ({on('baseline', 'up')})"
    assert asked[2] == (
        'group by (__name__) ({__name__=~".*(?:node_load).*", phoenix_experiment_id="exp", '
        'phoenix_variant="baseline", job!="phoenix_collector"})'
    )


def test_subjects_name_what_a_person_knows() -> None:
    rule = QuerySource("rules", "r.yaml", group="g", rule="HighCPU", rule_type="alert")
    record_rule = QuerySource("rules", "r.yaml", group="g", rule="job:x:rate5m", rule_type="record")
    panel = QuerySource(
        "dashboard", "d.json", dashboard_title="Node", panel_id=3, panel_title="CPU"
    )
    untitled = QuerySource("dashboard", "d.json", dashboard_uid="n", panel_id=3)
    variable = QuerySource("dashboard", "d.json", dashboard_title="Node", variable="job")
    assert subject(rule) == "alert `HighCPU`"
    assert subject(record_rule) == "recording rule `job:x:rate5m`"
    assert subject(panel) == "panel 'CPU' of dashboard 'Node'"
    assert subject(untitled) == "panel '3' of dashboard 'n'"
    assert subject(variable) == "variable `job` of dashboard 'Node'"
    assert subject(SOURCE) == "query at queries.txt:1"
    assert subject(QuerySource("rules", "r.yaml")) == "rule file r.yaml"


def test_evaluation_times_spread_over_the_window() -> None:
    start = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    end = datetime(2025, 1, 1, 10, 30, 0, 700_000, tzinfo=UTC)
    assert [t.strftime("%H:%M:%S.%f") for t in evaluation_times(start, end)] == [
        "10:10:00.000000",
        "10:20:00.000000",
        "10:30:00.000000",
    ]
    assert evaluation_times(start, end, points=1) == [end.replace(microsecond=0)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluation_times(AT, AT + timedelta(hours=1), points=0), "at least 1"),
        (lambda: evaluation_times(AT, AT), "before it starts"),
        (
            lambda: preserved_queries(TableReader({}), "e", "b", ["b"], AT, []),
            "among the candidates",
        ),
        (lambda: preserved_queries(TableReader({}), "e", "b", ["c"], [], []), "at least one"),
        (
            lambda: preserved_queries(
                TableReader({}),
                "e",
                "b",
                ["c"],
                datetime(2025, 1, 1),
                [],
            ),
            "no time zone",
        ),
    ],
)
def test_bad_arguments(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_records_from_a_query_list_are_evaluated_as_written() -> None:
    records = queries_from_list("sum(x)\n# a comment\nsum(y)\n", "runbook.txt")
    result, _ = run({}, records)
    assert result.findings["subject"].tolist() == [
        "query at runbook.txt:1",
        "query at runbook.txt:3",
    ]


def test_public_api() -> None:
    assert set(guardrail.__all__) == {
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
    }
