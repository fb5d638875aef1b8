"""Grafana dashboards: panels (in rows, collapsed rows, old-style rows), targets of Prometheus
datasources only, templating variables, and failures reported with dashboard and panel."""

from __future__ import annotations

import json
from pathlib import Path

from phoenix_core.usage import LabelUse, QuerySource, QueryUsage, queries_from_dashboard

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "usage"


def _node_dashboard() -> list[QueryUsage]:
    text = (FIXTURES / "node-dashboard.json").read_text()
    return queries_from_dashboard(text, "node-dashboard.json")


def _where(record: QueryUsage) -> tuple[object, ...]:
    s = record.source
    return (s.panel_id, s.panel_title, s.ref_id, s.variable, record.status)


def test_every_target_and_query_variable_is_a_record() -> None:
    records = _node_dashboard()
    assert [_where(r) for r in records] == [
        (1, "CPU busy", "A", None, "ok"),
        (1, "CPU busy", "B", None, "ok"),
        (2, "Memory available", "A", None, "ok"),
        (4, "Disk reads", "A", None, "ok"),  # inside the collapsed row "Disks"
        (5, "Fullest filesystems", "A", None, "ok"),
        (6, "Kernel errors", "A", None, "skipped"),  # Loki
        (7, "Targets per job", "A", None, "ok"),  # a Prometheus target of a mixed panel
        (7, "Targets per job", "B", None, "skipped"),  # a server-side expression
        (8, "Request rate (broken)", "A", None, "error"),
        (11, "Network received", "A", None, "ok"),  # after the open row "Network"
        (None, None, None, "job", "ok"),
        (None, None, None, "instance", "ok"),
        (None, None, None, "busiest_job", "ok"),
        (None, None, None, "cluster", "skipped"),  # label_values(cluster): no metric
    ]
    assert all(r.source.dashboard_uid == "node-fleet" for r in records)
    assert all(r.source.dashboard_title == "Node fleet" for r in records)


def test_what_each_panel_reads() -> None:
    reads = {
        (r.source.panel_id, r.source.ref_id, r.source.variable): {
            u.metric.key: u.labels for u in r.uses
        }
        for r in _node_dashboard()
        if r.ok
    }
    assert reads == {
        # sum by (instance) (rate(…{mode!="idle", instance=~"$instance"}[$__rate_interval]))
        (1, "A", None): {"node_cpu_seconds_total": LabelUse.named(["instance", "mode"])},
        # count without (cpu, mode) (…): counting needs every series apart
        (1, "B", None): {"node_cpu_seconds_total": LabelUse.every(names=["instance", "mode"])},
        (2, "A", None): {
            "node_memory_MemAvailable_bytes": LabelUse.every(names=["instance"]),
            "node_memory_MemTotal_bytes": LabelUse.every(names=["instance"]),
        },
        (4, "A", None): {
            "node_disk_read_bytes_total": LabelUse.every(names=["instance"], but=["device"])
        },
        (5, "A", None): {
            "node_filesystem_avail_bytes": LabelUse.every(names=["fstype"]),
            "node_filesystem_size_bytes": LabelUse.every(names=["fstype"]),
        },
        (7, "A", None): {"up": LabelUse.every(names=["job"])},
        (11, "A", None): {"node_network_receive_bytes_total": LabelUse.named(["device"])},
        # label_values(node_uname_info, job)
        (None, None, "job"): {"node_uname_info": LabelUse.named(["job"])},
        # label_values(node_uname_info{job="$job"}, instance)
        (None, None, "instance"): {"node_uname_info": LabelUse.named(["instance", "job"])},
        # query_result(topk(1, sum by (job) (rate(http_requests_total[$__range]))))
        (None, None, "busiest_job"): {"http_requests_total": LabelUse.named(["job"])},
    }


def test_variables_are_replaced_before_parsing() -> None:
    by_panel = {(r.source.panel_id, r.source.ref_id): r for r in _node_dashboard()}
    cpu = by_panel[(1, "A")]
    assert "$__rate_interval" in cpu.query
    assert cpu.expanded == (
        'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle", instance=~".*"}[15s]))'
    )
    # $interval is the dashboard's own interval variable (1m), not the built-in's 5m
    assert by_panel[(4, "A")].expanded.endswith("[1m]))")


def test_a_broken_query_names_its_dashboard_and_panel_and_the_rest_is_read() -> None:
    records = _node_dashboard()
    (broken,) = [r for r in records if r.status == "error"]
    assert broken.message == "unclosed left parenthesis"
    assert broken.source == QuerySource(
        kind="dashboard",
        file="node-dashboard.json",
        dashboard_uid="node-fleet",
        dashboard_title="Node fleet",
        panel_id=8,
        panel_title="Request rate (broken)",
        ref_id="A",
    )
    assert str(broken.source) == (
        "node-dashboard.json › dashboard node-fleet 'Node fleet' › "
        "panel 8 'Request rate (broken)' › target A"
    )
    assert sum(r.ok for r in records) == 10


def test_skipped_targets_say_why() -> None:
    skipped = {
        r.source.panel_id or r.source.variable: r.message
        for r in _node_dashboard()
        if r.status == "skipped"
    }
    assert skipped == {
        6: "datasource type 'loki' is not Prometheus",
        7: "datasource type '__expr__' is not Prometheus",
        "cluster": "label_values(label) reads one label's values of every metric",
    }


def test_old_style_rows_and_an_exported_wrapper() -> None:
    text = (FIXTURES / "legacy-dashboard.json").read_text()
    records = queries_from_dashboard(text, "legacy-dashboard.json")
    assert [(r.source.dashboard_uid, r.source.panel_id, r.status) for r in records] == [
        ("api-legacy", 1, "ok"),
        ("api-legacy", 2, "ok"),
    ]
    requests, latency = ({u.metric.key: u.labels for u in r.uses} for r in records)
    # job="[[job]]": the old variable syntax, in a string
    assert requests == {"http_requests_total": LabelUse.named(["code", "job"])}
    assert latency == {"http_request_duration_seconds_bucket": LabelUse.every(names=["job", "le"])}


def test_a_datasource_of_another_type_named_through_a_variable_is_skipped() -> None:
    board = {
        "uid": "u",
        "title": "t",
        "templating": {"list": [{"name": "logs", "type": "datasource", "query": "loki"}]},
        "panels": [
            {"id": 1, "title": "p", "datasource": "$logs", "targets": [{"expr": '{app="x"}'}]},
            {"id": 2, "title": "q", "datasource": "Some name", "targets": [{"expr": "up"}]},
            {"id": 3, "title": "r", "targets": [{"refId": "A"}]},
            {"id": 4, "title": "lib", "libraryPanel": {"uid": "abc", "name": "Shared CPU"}},
        ],
    }
    records = queries_from_dashboard(board, "d.json")
    assert [(r.source.panel_id, r.status, r.message) for r in records] == [
        (1, "skipped", "datasource type 'loki' is not Prometheus"),
        (2, "ok", None),  # a datasource known only by name: read as mimirtool does
        (3, "skipped", "the target has no PromQL 'expr'"),
        (4, "skipped", "library panel 'Shared CPU': its queries are not in this JSON"),
    ]


def test_json_that_is_not_a_dashboard_is_one_error() -> None:
    (record,) = queries_from_dashboard("{not json", "x.json")
    assert record.status == "error"
    assert record.source == QuerySource(kind="dashboard", file="x.json")
    (record,) = queries_from_dashboard(json.dumps([1, 2]), "list.json")
    assert record.message == "not a dashboard object"
