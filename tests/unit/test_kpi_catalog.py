"""The KPI catalog: the shipped one loads and has what issue 20 asks for, a bad one names the
field at fault, and rendering fills in every placeholder with escaped values."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix_core.analysis.gates import Direction
from phoenix_core.errors import NotFound, ValidationFailed
from phoenix_core.metrics.catalog import (
    Catalog,
    DefaultGate,
    QueryScope,
    Source,
    builtin_catalog,
    jobs_regex,
    load_catalog,
    render,
)
from phoenix_core.spec import Gate
from phoenix_core.wire.tasks import CollectorKind

ROOT = Path(__file__).resolve().parents[2]
CATALOG_FILE = ROOT / "phoenix_core" / "metrics" / "catalog.yaml"
ISSUE = {
    "active_series",
    "samples_per_second",
    "bytes_per_second",
    "collector_cpu_cores",
    "collector_rss_bytes",
    "failed_samples",
    "dropped_samples",
    "retried_samples",
    "remote_write_lag_seconds",
    "critical_coverage",
    "host_balance",
}


def _data() -> dict[str, Any]:
    return dict(yaml.safe_load(CATALOG_FILE.read_text()))


def _paths(data: object) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        load_catalog(data)  # type: ignore[arg-type]
    return [error.path for error in caught.value.errors]


def _kpi(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(k for k in data["kpis"] if k["name"] == name)


def test_the_shipped_catalog_has_every_kpi_of_the_issue_and_the_specs_gate_names() -> None:
    catalog = builtin_catalog()
    assert set(catalog.names()) >= ISSUE
    assert catalog.get("cpu_cores").name == "collector_cpu_cores"
    assert catalog.get("rss_bytes").name == "collector_rss_bytes"
    with pytest.raises(NotFound):
        catalog.get("no_such_kpi")


def test_default_gates_in_the_verdicts_terms() -> None:
    catalog = builtin_catalog()
    assert catalog.get("active_series").verdict_gate() == {
        "kpi": "active_series",
        "unit": "series",
        "direction": "lower",
        "min_improvement": 0.20,
        "critical": True,
        "must_have_data": True,
    }
    terms = {kpi.name: kpi.verdict_gate() for kpi in catalog.kpis}
    assert terms["collector_cpu_cores"]["max_worsening"] == 0.10
    assert terms["failed_samples"]["max_worsening"] == 0.0
    assert terms["critical_coverage"]["floor"] == 100
    assert terms["remote_write_lag_seconds"]["ceiling"] == 30
    assert terms["host_balance"]["direction"] == "higher"


def test_every_kpi_is_measurable_on_both_kinds_or_says_why_not() -> None:
    for kpi in builtin_catalog().kpis:
        if kpi.source is Source.COLLECTOR_SELF:
            for kind in CollectorKind:
                assert (kpi.query_for(kind) is None) == (kind in kpi.unsupported), kpi.name
        if kpi.source is Source.RECEIVER:
            assert all(kpi.query_for(kind) == kpi.query for kind in CollectorKind)
    unsupported = {(kpi.name, kind) for kpi in builtin_catalog().kpis for kind in kpi.unsupported}
    assert unsupported == {("retried_samples", CollectorKind.OTELCOL)}


def test_what_the_issue_fixes_about_coverage_and_balance() -> None:
    catalog = builtin_catalog()
    for name in ("critical_coverage", "host_balance"):
        kpi = catalog.get(name)
        assert kpi.critical and kpi.must_have_data and kpi.better is Direction.HIGHER
        assert kpi.gate == DefaultGate(min=100) and kpi.unit == "%"
    for name in ("failed_samples", "dropped_samples", "export_errors"):
        assert catalog.get(name).critical
        assert catalog.get(name).gate.no_increase


def test_self_metric_queries_match_every_form_of_a_renamed_metric() -> None:
    catalog = builtin_catalog()
    failed = catalog.get("failed_samples").queries
    assert (
        '{__name__=~"prometheus_remote_storage_samples_failed_total|'
        'prometheus_remote_storage_failed_samples_total",$collector}'
        in failed[CollectorKind.PROMETHEUS_AGENT]
    )
    names = re.compile(r'__name__=~"([^"]+)"')
    otelcol = names.findall(failed[CollectorKind.OTELCOL])
    for form in (
        "otelcol_exporter_send_failed_metric_points_total",
        "otelcol_exporter_send_failed_metric_points",
    ):
        assert any(re.fullmatch(pattern, form) for pattern in otelcol), form
    rss = names.findall(catalog.get("collector_rss_bytes").queries[CollectorKind.OTELCOL])
    for form in ("otelcol_process_memory_rss_bytes", "otelcol_process_memory_rss"):
        assert any(re.fullmatch(pattern, form) for pattern in rss), form


def test_default_gates_in_the_specs_terms() -> None:
    assert DefaultGate(max_increase=0.1).bounds() == {"max_change_percent": 10.0}
    assert DefaultGate(required_decrease=0.2).bounds() == {"max_change_percent": -20.0}
    assert DefaultGate(no_increase=True).bounds() == {"max_change_percent": 0.0}
    assert DefaultGate(min=1.0).bounds() == {"min_value": 1.0}
    assert DefaultGate(max=30).bounds() == {"max_value": 30}
    for kpi in builtin_catalog().kpis:  # every default, written as a spec gate, is itself
        spec_gate = Gate(kpi=kpi.name, **kpi.gate.bounds())
        assert spec_gate.verdict_gate() == kpi.default_gate()
    assert DefaultGate(required_decrease=0.2).describe() == "at least 20 % below the baseline"
    assert DefaultGate(max=30).describe("s") == "at most 30 s"


# --- validation: every error names the field -----------------------------------------------------


def test_a_gate_has_exactly_one_bound() -> None:
    data = _data()
    _kpi(data, "collector_cpu_cores")["gate"] = {"max_increase": 0.1, "min": 1}
    assert _paths(data) == ["kpis.collector_cpu_cores.gate"]
    _kpi(data, "collector_cpu_cores")["gate"] = {}
    assert _paths(data) == ["kpis.collector_cpu_cores.gate"]
    _kpi(data, "collector_cpu_cores")["gate"] = {"required_decrease": 1.5}
    assert _paths(data) == ["kpis.collector_cpu_cores.gate.required_decrease"]


def test_a_wrong_value_names_its_kpi_and_field() -> None:
    data = _data()
    _kpi(data, "collector_rss_bytes")["better"] = "smaller"
    _kpi(data, "host_balance")["must_have_data"] = "sometimes"
    assert sorted(_paths(data)) == [
        "kpis.collector_rss_bytes.better",
        "kpis.host_balance.must_have_data",
    ]
    data = _data()
    data["kpis"][0]["name"] = "Active Series"
    assert _paths(data) == ["kpis.Active Series.name"]
    data = _data()
    del data["kpis"][2]["name"]
    assert _paths(data) == ["kpis.2.name"]


def test_a_collector_kind_without_query_or_reason_is_named() -> None:
    data = _data()
    del _kpi(data, "failed_samples")["queries"]["otelcol"]
    assert _paths(data) == ["kpis.failed_samples.queries.otelcol"]
    data = _data()
    _kpi(data, "retried_samples")["queries"]["otelcol"] = (
        "sum by (phoenix_variant, phoenix_host) (x)"
    )
    assert _paths(data) == ["kpis.retried_samples.queries.otelcol"]


def test_a_query_template_is_checked() -> None:
    data = _data()
    _kpi(data, "active_series")["query"] = "count by (phoenix_variant, phoenix_host) ({$writen})"
    with pytest.raises(
        ValidationFailed, match=r"kpis\.active_series\.query: unknown placeholder writen"
    ):
        load_catalog(data)
    _kpi(data, "active_series")["query"] = 'count by (phoenix_variant, phoenix_host) ({x="$1"})'
    with pytest.raises(ValidationFailed, match=r"kpis\.active_series\.query: a '\$' that starts"):
        load_catalog(data)
    _kpi(data, "bytes_per_second")["queries"]["otelcol"] = "sum(rate(x[$window]))"
    assert "kpis.bytes_per_second.queries.otelcol" in _paths(data)
    data = _data()
    del _kpi(data, "active_series")["query"]
    assert _paths(data) == ["kpis.active_series.query"]


def test_fields_of_another_source_and_twins_are_refused() -> None:
    data = _data()
    _kpi(data, "active_series")["cache"] = {"metric": "x", "reduce": "value"}
    assert _paths(data) == ["kpis.active_series.cache"]
    data = _data()
    data["kpis"].append(copy.deepcopy(data["kpis"][0]))
    assert _paths(data) == ["kpis.active_series.name"]
    data = _data()
    _kpi(data, "failed_samples")["aliases"] = ["rss_bytes"]
    assert _paths(data) == ["kpis.failed_samples.aliases"]


def test_not_a_catalog() -> None:
    assert _paths("kpis: [") == [""]
    assert _paths("- a list") == [""]
    assert _paths({"version": 2, "kpis": []}) == ["version", "kpis"]


# --- rendering ---------------------------------------------------------------------------------


def test_render_fills_in_every_placeholder() -> None:
    scope = QueryScope("exp-1", ["app", "node"], 30)
    query = render(builtin_catalog().get("active_series").query or "", scope)
    assert query == (
        "count by (phoenix_variant, phoenix_host) (last_over_time({"
        'phoenix_experiment_id="exp-1",job=~"app|node",__name__!~"scrape_duration_seconds|'
        "scrape_samples_post_metric_relabeling|scrape_samples_scraped|scrape_series_added|up"
        '"}[30s]))'
    )
    self_metric = render("x{$collector}[$window] / $window_seconds", QueryScope("e", ["a"], 0.5))
    assert self_metric == 'x{phoenix_experiment_id="e",job="phoenix_collector"}[500ms] / 0.5'


def test_render_escapes_values() -> None:
    scope = QueryScope('e"x\\y', ["a.b", 'q"uote', "back\\slash", "x|y"], 15)
    rendered = render('{$identity,job=~"$jobs"}', scope)
    assert rendered.startswith('{phoenix_experiment_id="e\\"x\\\\y",job=~"')
    # the job regex, read back as PromQL reads the string, matches exactly the job names
    quoted = re.search(r'job=~"((?:[^"\\]|\\.)*)"', rendered)
    assert quoted is not None
    regex = re.sub(r"\\(.)", r"\1", quoted.group(1))
    assert regex == jobs_regex(scope.jobs)
    for job in scope.jobs:
        assert re.fullmatch(regex, job), job
    for other in ("aXb", "x", "y", "a.b.c"):
        assert not re.fullmatch(regex, other), other


def test_a_scope_needs_jobs_and_a_window() -> None:
    with pytest.raises(ValidationFailed) as caught:
        QueryScope("e", [], 0)
    assert [e.path for e in caught.value.errors] == ["jobs", "window_seconds"]


def test_the_catalog_model_is_frozen() -> None:
    catalog = builtin_catalog()
    assert isinstance(catalog, Catalog)
    with pytest.raises(ValueError, match="frozen"):
        catalog.kpis[0].unit = "x"  # type: ignore[misc]


def test_the_docs_list_every_kpi() -> None:
    doc = (ROOT / "docs" / "kpis.md").read_text()
    for name in builtin_catalog().names():
        assert f"### {name}" in doc, name
