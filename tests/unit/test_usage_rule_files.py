"""Prometheus rule files: one record per rule, named by file, group and rule."""

from __future__ import annotations

from pathlib import Path

from phoenix_core.usage import LabelUse, QuerySource, QueryUsage, queries_from_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "usage"


def _read() -> list[QueryUsage]:
    return queries_from_rules((FIXTURES / "node-rules.yaml").read_text(), "node-rules.yaml")


def test_every_rule_is_a_record_with_its_group_and_name() -> None:
    records = _read()
    assert [(r.source.group, r.source.rule_type, r.source.rule) for r in records] == [
        ("node.rules", "record", "instance:node_cpu_utilisation:rate5m"),
        ("node.rules", "record", "job_code:http_requests:rate5m"),
        ("node.alerts", "alert", "NodeFilesystemAlmostFull"),
        ("node.alerts", "alert", "TargetDown"),
        ("node.alerts", "alert", "ApiAbsent"),
        ("node.alerts", "alert", "ApiHighLatency"),
    ]
    assert all(
        r.ok and r.source.kind == "rules" and r.source.file == "node-rules.yaml" for r in records
    )
    assert str(records[3].source) == "node-rules.yaml › group 'node.alerts' › alert 'TargetDown'"


def test_what_each_rule_reads() -> None:
    reads = [{u.metric.key: u.labels for u in r.uses} for r in _read()]
    assert reads == [
        # 1 - avg without (cpu) (sum without (mode) (rate(…{mode=~…}[5m]))): avg needs every
        # series apart, mode is named by the matcher
        {"node_cpu_seconds_total": LabelUse.every(names=["mode"])},
        # sum without (instance, pod) (rate(…{job="api"}[5m]))
        {"http_requests_total": LabelUse.every(names=["job"], but=["instance", "pod"])},
        # a / b < 0.1: one-to-one on every label
        {
            "node_filesystem_avail_bytes": LabelUse.every(names=["fstype"]),
            "node_filesystem_size_bytes": LabelUse.every(names=["fstype"]),
        },
        {"up": LabelUse.every(names=["job"])},
        {"up": LabelUse.named(["job"])},  # absent(up{job="api"})
        {"http_request_duration_seconds_bucket": LabelUse.named(["job", "le"])},
    ]


def test_a_bad_rule_is_reported_and_the_rest_still_read() -> None:
    text = """
groups:
  - name: g
    rules:
      - record: a:rate5m
        expr: sum(rate(a[5m])
      - alert: NoExpr
        for: 5m
      - alert: Fine
        expr: up == 0
"""
    broken, missing, fine = queries_from_rules(text, "team.rules.yml")
    assert broken.status == "error"
    assert broken.message == "unclosed left parenthesis"
    assert broken.source == QuerySource(
        kind="rules", file="team.rules.yml", group="g", rule="a:rate5m", rule_type="record"
    )
    assert missing.status == "error"
    assert missing.source.rule == "NoExpr"
    assert fine.ok
    assert [u.metric.key for u in fine.uses] == ["up"]


def test_a_prometheus_rule_resource_and_several_documents() -> None:
    text = """
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: api}
spec:
  groups:
    - name: api
      rules:
        - alert: ApiDown
          expr: up{job="api"} == 0
---
groups:
  - name: plain
    rules:
      - record: x:sum
        expr: sum(x)
"""
    records = queries_from_rules(text, "api.yaml")
    assert [(r.source.group, r.source.rule, r.ok) for r in records] == [
        ("api", "ApiDown", True),
        ("plain", "x:sum", True),
    ]


def test_a_file_that_is_not_rules_is_one_error() -> None:
    (bad_yaml,) = queries_from_rules("groups: [", "broken.yaml")
    assert bad_yaml.status == "error"
    assert bad_yaml.message is not None and bad_yaml.message.startswith("not YAML")
    assert bad_yaml.source == QuerySource(kind="rules", file="broken.yaml")
    (not_rules,) = queries_from_rules("scrape_configs: []", "prometheus.yml")
    assert not_rules.message == "not a rule file: no 'groups' list"
