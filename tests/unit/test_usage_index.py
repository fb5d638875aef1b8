"""The aggregate view over many sources: is a metric read, by whom, which of its labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_core import usage
from phoenix_core.usage import (
    SOURCE_COLUMNS,
    LabelUse,
    UsageIndex,
    queries_from_dashboard,
    queries_from_list,
    queries_from_rules,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "usage"


@pytest.fixture(scope="module")
def index() -> UsageIndex:
    def text(name: str) -> str:
        return (FIXTURES / name).read_text()

    return UsageIndex(
        [
            *queries_from_rules(text("node-rules.yaml"), "node-rules.yaml"),
            *queries_from_dashboard(text("node-dashboard.json"), "node-dashboard.json"),
            *queries_from_dashboard(text("legacy-dashboard.json"), "legacy-dashboard.json"),
            *queries_from_list(text("runbook-queries.txt"), "runbook-queries.txt"),
        ]
    )


def test_is_a_metric_used(index: UsageIndex) -> None:
    assert index.is_used("up")
    assert index.is_used("node_load5")  # through {__name__=~"node_load(1|5|15)"}
    assert not index.is_used("node_load10")
    assert not index.is_used("node_network_transmit_bytes_total")  # only in a broken query


def test_by_whom(index: UsageIndex) -> None:
    users = [str(r.source) for r in index.users("up")]
    assert users == [
        "node-rules.yaml › group 'node.alerts' › alert 'TargetDown'",
        "node-rules.yaml › group 'node.alerts' › alert 'ApiAbsent'",
        "node-dashboard.json › dashboard node-fleet 'Node fleet' › panel 7 'Targets per job' "
        "› target A",
        "runbook-queries.txt:2",
    ]


def test_labels_used_are_the_union_over_queries(index: UsageIndex) -> None:
    # rules: sum without (instance, pod) (…{job="api"}); dashboards and lists: by job, by code
    assert index.label_use("http_requests_total") == LabelUse.every(
        names=["code", "job"], but=["instance", "pod"]
    )
    assert not index.uses("http_requests_total", "pod")
    assert index.uses("http_requests_total", "code")
    assert index.uses("http_requests_total", "method")  # reaches the recorded series
    # only ever summed by device
    assert index.label_use("node_network_receive_bytes_total") == LabelUse.named(["device"])
    assert not index.uses("node_network_receive_bytes_total", "instance")
    # an unused metric uses no label
    assert index.label_use("nothing_reads_me") == LabelUse()


def test_metrics_frame(index: UsageIndex) -> None:
    frame = index.metrics().set_index("metric")
    assert list(frame.columns) == [
        "is_pattern",
        "queries",
        "files",
        "labels",
        "all_labels",
        "all_except",
    ]
    row = frame.loc["http_requests_total"]
    assert row["queries"] == 4
    assert row["files"] == (
        "legacy-dashboard.json",
        "node-dashboard.json",
        "node-rules.yaml",
        "runbook-queries.txt",
    )
    assert row["labels"] == ("code", "job")
    assert row["all_labels"]
    assert row["all_except"] == ("instance", "pod")
    assert frame.loc['{__name__=~"node_load(1|5|15)"}', "is_pattern"]


def test_references_frame_has_a_row_per_query_and_metric(index: UsageIndex) -> None:
    frame = index.references()
    assert list(frame.columns[: len(SOURCE_COLUMNS)]) == list(SOURCE_COLUMNS)
    memory = frame[(frame["file"] == "node-dashboard.json") & (frame["panel_id"] == 2)]
    assert sorted(memory["metric"]) == [
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
    ]
    assert len(frame) == sum(len(r.uses) for r in index.records)


def test_for_an_inventory_patterns_are_resolved(index: UsageIndex) -> None:
    frame = index.for_inventory(["node_load1", "node_load10", "up"]).set_index("metric")
    assert frame["used"].to_dict() == {"node_load1": True, "node_load10": False, "up": True}
    assert frame.loc["up", "queries"] == 4
    assert frame.loc["node_load1", "all_labels"]


def test_problems_name_their_sources_and_the_index_is_incomplete(index: UsageIndex) -> None:
    problems = index.problems()
    errors = problems[problems["status"] == "error"]
    assert list(errors["source"]) == [
        "node-dashboard.json › dashboard node-fleet 'Node fleet' › panel 8 "
        "'Request rate (broken)' › target A",
        "runbook-queries.txt:5",
    ]
    assert set(errors["message"]) == {"unclosed left parenthesis"}
    assert (problems["status"] == "skipped").sum() == 3  # Loki, an expression, label_values(x)
    assert not index.complete
    assert UsageIndex(r for r in index.records if r.status != "error").complete


def test_empty_index_frames_have_their_columns() -> None:
    empty = UsageIndex([])
    assert empty.metrics().empty and "metric" in empty.metrics().columns
    assert empty.references().empty and "query" in empty.references().columns
    assert empty.problems().empty and "message" in empty.problems().columns
    assert empty.complete


def test_public_api() -> None:
    assert sorted(usage.__all__) == [
        "ANY_METRIC",
        "LabelUse",
        "MetricRef",
        "MetricUse",
        "PromQLError",
        "QuerySource",
        "QueryUsage",
        "SOURCE_COLUMNS",
        "UsageIndex",
        "analyze_label_values",
        "analyze_query",
        "queries_from_dashboard",
        "queries_from_list",
        "queries_from_rules",
        "substitute_variables",
        "usage_of",
    ]
    for name in usage.__all__:
        assert getattr(usage, name) is not None
