"""Plain query lists: a query a line, comments and blank lines skipped, sources by line."""

from __future__ import annotations

from pathlib import Path

from phoenix_core.usage import LabelUse, queries_from_list

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "usage"


def test_each_line_is_a_record_named_by_its_line() -> None:
    text = (FIXTURES / "runbook-queries.txt").read_text()
    records = queries_from_list(text, "runbook-queries.txt")
    assert [(r.source.line, r.status) for r in records] == [
        (2, "ok"),
        (3, "ok"),
        (5, "error"),  # the unclosed parenthesis; the lines after it are still read
        (6, "ok"),
        (7, "ok"),
    ]
    assert str(records[2].source) == "runbook-queries.txt:5"
    assert records[2].message == "unclosed left parenthesis"
    reads = [{u.metric.key: u.labels for u in r.uses} for r in records]
    assert reads == [
        {"up": LabelUse.every(names=["job"])},
        {"http_requests_total": LabelUse.named(["job"])},
        {},
        {'{__name__=~"node_load(1|5|15)"}': LabelUse.every()},
        {"kube_pod_info": LabelUse.every(names=["pod", "pod_name"])},
    ]


def test_grafana_builtins_are_replaced() -> None:
    (record,) = queries_from_list("rate(x[$__rate_interval])", "q.txt")
    assert record.ok
    assert record.query == "rate(x[$__rate_interval])"
    assert record.expanded == "rate(x[15s])"


def test_an_empty_list_gives_no_records() -> None:
    assert queries_from_list("\n# nothing yet\n   \n", "empty.txt") == []
