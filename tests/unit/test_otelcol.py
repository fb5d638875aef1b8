"""The OpenTelemetry Collector compiler and the config validator: every template renders into a
config the validator accepts (or is refused with its reason), each step kind compiles into the
OTTL expected, and the validator rejects the mistakes it exists for."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest
import yaml

from phoenix_core.errors import ValidationFailed
from phoenix_core.pipelines.ir import STEP_KINDS, Pipeline, parse_pipeline
from phoenix_core.pipelines.otelcol import SUPPORT, compile_otelcol, ottl_string
from phoenix_core.pipelines.otelcol_validate import (
    OttlError,
    check_ottl,
    pinned_components,
    validate_otelcol_config,
)
from support.otelcol import CRITICAL, LIBRARY, context, inventory, template_cases


def _compile(steps: list[dict[str, Any]], reference: pd.DataFrame | None = None) -> dict[str, Any]:
    rendered = compile_otelcol(parse_pipeline({"steps": steps}), context(reference))
    validate_otelcol_config(rendered.text)
    config: dict[str, Any] = yaml.safe_load(rendered.text)
    return config


def _conditions(config: dict[str, Any], name: str) -> list[str]:
    conditions: list[str] = config["processors"][name]["metrics"]["datapoint"]
    return conditions


def _statements(config: dict[str, Any], name: str) -> list[tuple[str, list[str]]]:
    groups = config["processors"][name]["metric_statements"]
    return [(group["context"], group["statements"]) for group in groups]


def _refusal(steps: list[dict[str, Any]], reference: pd.DataFrame | None = None) -> str:
    with pytest.raises(ValidationFailed) as caught:
        compile_otelcol(parse_pipeline({"steps": steps}), context(reference))
    [error] = caught.value.errors
    return f"{error.path}: {error.message}"


# --- templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "variables", "refused"), template_cases())
def test_every_template_renders_a_valid_config_or_is_refused(
    name: str, variables: dict[str, Any], refused: str | None
) -> None:
    pipeline = LIBRARY.get(name).render(variables)
    if refused:
        with pytest.raises(ValidationFailed, match=refused):
            compile_otelcol(pipeline, context(inventory()))
        return
    rendered = compile_otelcol(pipeline, context(inventory()))
    validate_otelcol_config(rendered.text)
    config = yaml.safe_load(rendered.text)
    chain = config["service"]["pipelines"]["metrics"]["processors"]
    assert chain[:2] == ["memory_limiter", "transform/phoenix_identity"]
    assert chain[-1] == "batch"
    assert len(chain) == 3 + len(pipeline.steps) + (1 if variables.get("critical") else 0)
    has_top_k = any(step.kind == "top_k" for step in pipeline.steps)
    assert rendered.refresh_seconds == (pipeline.refresh_seconds if has_top_k else None)


def test_aggregate_with_protection_elsewhere_is_accepted() -> None:
    pipeline = LIBRARY.get("aggregate").render(
        {"apply_to": "node_.*", "critical": ['process_open_fds{process="kubelet"}']}
    )
    validate_otelcol_config(compile_otelcol(pipeline, context(inventory())).text)


def test_the_config_around_the_steps() -> None:
    config = _compile([])
    assert config["extensions"] == {"health_check": {"endpoint": "127.0.0.1:13133"}}
    jobs = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert [job["job_name"] for job in jobs] == ["node", "app"]
    assert jobs[0]["scrape_interval"] == jobs[0]["scrape_timeout"] == "15s"
    assert jobs[0]["static_configs"] == [{"targets": ["127.0.0.1:9100"]}]
    exporter = config["exporters"]["prometheusremotewrite"]
    assert exporter["endpoint"] == "http://127.0.0.1:9090/api/v1/write"
    assert exporter["external_labels"] == {
        "phoenix_experiment_id": "exp-1",
        "phoenix_variant": "candidate",
        "phoenix_host": "host-a",
    }
    assert exporter["target_info"] == {"enabled": False}
    assert exporter["add_metric_suffixes"] is False
    assert exporter["resource_to_telemetry_conversion"] == {"enabled": False}
    telemetry = config["service"]["telemetry"]["metrics"]
    assert telemetry["level"] == "detailed"  # the remote-write requests' sizes and durations
    reader = telemetry["readers"][0]
    assert reader["pull"]["exporter"]["prometheus"] == {"host": "127.0.0.1", "port": 18888}
    # its self-metrics reach the receiver like prometheus-agent's: job phoenix_collector, in a
    # pipeline of their own that no step touches
    assert config["receivers"]["prometheus/phoenix_collector"]["config"]["scrape_configs"] == [
        {
            "job_name": "phoenix_collector",
            "scrape_interval": "15s",
            "scrape_timeout": "15s",
            "static_configs": [{"targets": ["127.0.0.1:18888"]}],
            "metric_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "target_info", "action": "drop"}
            ],
        }
    ]
    assert config["service"]["pipelines"]["metrics/phoenix_collector"] == {
        "receivers": ["prometheus/phoenix_collector"],
        "processors": ["batch"],
        "exporters": ["prometheusremotewrite"],
    }
    assert config["processors"]["memory_limiter"] == {
        "check_interval": "1s",
        "limit_mib": 512,
        "spike_limit_mib": 128,
    }
    assert config["service"]["pipelines"]["metrics"] == {
        "receivers": ["prometheus"],
        "processors": ["memory_limiter", "transform/phoenix_identity", "batch"],
        "exporters": ["prometheusremotewrite"],
    }
    renames = config["processors"]["transform/phoenix_identity"]["metric_statements"][0]
    assert renames["statements"][:2] == [
        'set(attributes["exported_phoenix_experiment_id"], attributes["phoenix_experiment_id"])'
        ' where attributes["phoenix_experiment_id"] != nil',
        'delete_key(attributes, "phoenix_experiment_id")',
    ]


def test_support_covers_every_step_kind() -> None:
    assert set(SUPPORT) == set(STEP_KINDS)
    assert SUPPORT["sample"].mode == "refused"
    assert SUPPORT["top_k"].mode == "by refresh"


# --- generated OTTL per step kind ----------------------------------------------------------------


def test_keep_and_drop_metrics_are_anchored() -> None:
    config = _compile(
        [{"keep_metrics": {"regex": "process_.*"}}, {"drop_metrics": {"regex": "process_open_fds"}}]
    )
    assert _conditions(config, "filter/phoenix_0_keep_metrics") == [
        'not IsMatch(metric.name, "^(?:process_.*)$")'
    ]
    assert _conditions(config, "filter/phoenix_1_drop_metrics") == [
        'IsMatch(metric.name, "^(?:process_open_fds)$")'
    ]


def test_keep_series_on_a_regex_matching_empty_keeps_series_without_the_label() -> None:
    config = _compile([{"keep_series": {"label": "pid", "regex": "1.*|", "metrics": "process_.*"}}])
    assert _conditions(config, "filter/phoenix_0_keep_series") == [
        'IsMatch(metric.name, "^(?:process_.*)$") and '
        'not (attributes["pid"] == nil or IsMatch(attributes["pid"], "^(?:1.*|)$"))'
    ]


def test_drop_series_without_empty_match_has_no_nil_check() -> None:
    config = _compile([{"drop_series": {"label": "endpoint", "regex": "/debug/.*"}}])
    assert _conditions(config, "filter/phoenix_0_drop_series") == [
        'IsMatch(attributes["endpoint"], "^(?:/debug/.*)$")'
    ]


def test_job_and_instance_are_resource_attributes() -> None:
    config = _compile(
        [
            {"drop_series": {"label": "job", "regex": "app"}},
            {"keep_series": {"label": "instance", "regex": "host:.*"}},
        ]
    )
    assert _conditions(config, "filter/phoenix_0_drop_series") == [
        'IsMatch(resource.attributes["service.name"], "^(?:app)$")'
    ]
    assert _conditions(config, "filter/phoenix_1_keep_series") == [
        'not IsMatch(resource.attributes["service.instance.id"], "^(?:host:.*)$")'
    ]


def test_protect_marks_datapoints_that_later_steps_exclude() -> None:
    selector = 'process_cpu_seconds_total{process="kubelet", pid!="", job=~"node|"}'
    config = _compile(
        [
            {"protect": {"selectors": [selector, '{process!~"c.*", pid="1"}']}},
            {"drop_metrics": {"regex": "process_.*"}},
        ]
    )
    [(context, statements)] = _statements(config, "transform/phoenix_0_protect")
    assert context == "datapoint"
    assert statements == [
        'set(attributes["phoenix.protected"], true) where '
        'metric.name == "process_cpu_seconds_total" and attributes["process"] == "kubelet" and '
        'not (attributes["pid"] == nil or attributes["pid"] == "") and '
        '(resource.attributes["service.name"] == nil or '
        'IsMatch(resource.attributes["service.name"], "^(?:node|)$"))',
        'set(attributes["phoenix.protected"], true) where '
        'not IsMatch(attributes["process"], "^(?:c.*)$") and attributes["pid"] == "1"',
    ]
    assert _conditions(config, "filter/phoenix_1_drop_metrics") == [
        'IsMatch(metric.name, "^(?:process_.*)$") and attributes["phoenix.protected"] == nil'
    ]
    assert _statements(config, "transform/phoenix_cleanup") == [
        ("datapoint", ['delete_key(attributes, "phoenix.protected")'])
    ]
    chain = config["service"]["pipelines"]["metrics"]["processors"]
    assert chain[-2:] == ["transform/phoenix_cleanup", "batch"]


def test_without_protect_there_is_no_cleanup() -> None:
    config = _compile([{"drop_metrics": {"regex": "x"}}])
    assert "transform/phoenix_cleanup" not in config["processors"]


def test_drop_labels_deletes_then_sums_what_collides() -> None:
    drop = {"labels": ["pid", "user_id"], "metrics": "process_.*"}
    config = _compile([{"protect": {"selectors": CRITICAL}}, {"drop_labels": drop}])
    where = (
        'where IsMatch(metric.name, "^(?:process_.*)$") and attributes["phoenix.protected"] == nil'
        " and metric.type != METRIC_DATA_TYPE_SUMMARY"
    )
    assert _statements(config, "transform/phoenix_1_drop_labels") == [
        (
            "datapoint",
            [
                f'delete_key(attributes, "pid") {where}',
                f'delete_key(attributes, "user_id") {where}',
            ],
        ),
        ("metric", ['aggregate_on_attributes("sum") where IsMatch(name, "^(?:process_.*)$")']),
    ]


def test_drop_labels_everywhere_leaves_only_summaries_alone() -> None:
    config = _compile([{"drop_labels": {"labels": ["pid"]}}])
    assert _statements(config, "transform/phoenix_0_drop_labels") == [
        (
            "datapoint",
            ['delete_key(attributes, "pid") where metric.type != METRIC_DATA_TYPE_SUMMARY'],
        ),
        ("metric", ['aggregate_on_attributes("sum")']),
    ]


def test_drop_labels_of_job_is_refused() -> None:
    message = _refusal([{"drop_labels": {"labels": ["pid", "job"]}}])
    assert message.startswith("steps.0: drop_labels cannot run on otelcol")
    assert "resource attributes" in message


def test_aggregate_keeps_the_labels_in_by() -> None:
    config = _compile(
        [{"aggregate": {"by": ["job", "instance", "status"], "fn": "max", "metrics": "http_.*"}}]
    )
    assert _statements(config, "transform/phoenix_0_aggregate") == [
        (
            "metric",
            ['aggregate_on_attributes("max", ["status"]) where IsMatch(name, "^(?:http_.*)$")'],
        ),
    ]


def test_aggregate_without_job_is_refused() -> None:
    message = _refusal(
        [{"keep_metrics": {"regex": ".*"}}, {"aggregate": {"by": ["instance", "status"]}}]
    )
    assert message.startswith("steps.1: aggregate cannot run on otelcol")
    assert "job" in message
    assert "resource attributes" in message


def test_aggregate_over_protected_series_is_refused() -> None:
    protect = {"selectors": ['process_open_fds{process="kubelet"}']}
    aggregate = {"by": ["job", "instance"], "metrics": "process_.*"}
    message = _refusal([{"protect": protect}, {"aggregate": aggregate}])
    assert message.startswith("steps.1: aggregate cannot run on otelcol")
    assert "protected" in message


def test_filter_below_compares_the_double_value() -> None:
    config = _compile(
        [
            {"filter_below": {"metric": "app_queue_depth", "threshold": 1e-7}},
            {"filter_below": {"metric": "app_queue_depth", "threshold": 2}},
        ]
    )
    assert _conditions(config, "filter/phoenix_0_filter_below") == [
        'metric.name == "app_queue_depth" and value_double < 0.0000001'
    ]
    assert _conditions(config, "filter/phoenix_1_filter_below") == [
        'metric.name == "app_queue_depth" and value_double < 2.0'
    ]


def test_top_k_keeps_the_reference_values() -> None:
    config = _compile(
        [
            {
                "top_k": {
                    "metric": "process_cpu_seconds_total",
                    "k": 2,
                    "by_label": "process",
                    "metrics": "process_.*",
                }
            }
        ],
        inventory(),
    )
    assert _conditions(config, "filter/phoenix_0_top_k") == [
        'IsMatch(metric.name, "^(?:process_.*)$") and '
        'not IsMatch(attributes["process"], "^(?:kubelet|nginx)$")'
    ]


def test_top_k_refuses_a_metric_the_baseline_does_not_have() -> None:
    # ranking by a metric with no series would keep nothing and drop the whole scope
    message = _refusal(
        [{"top_k": {"metric": "absent_metric", "k": 2, "by_label": "process"}}], inventory()
    )
    assert message.startswith("steps.0: top_k cannot run on otelcol")
    assert "it ranks by absent_metric, which the baseline's complete series do not have" in message
    assert "process_cpu_seconds_total" in message  # what the baseline has instead


def test_top_k_without_reference_values_is_refused() -> None:
    message = _refusal(
        [{"top_k": {"metric": "process_cpu_seconds_total", "k": 2, "by_label": "process"}}]
    )
    assert message.startswith("steps.0: top_k cannot run on otelcol")
    assert "reference values" in message


def test_sample_is_refused() -> None:
    message = _refusal(
        [
            {"drop_metrics": {"regex": "x"}},
            {"sample": {"hash_label": "user_id", "keep_fraction": 0.5}},
        ]
    )
    assert message.startswith("steps.1: sample cannot run on otelcol")
    assert "hashmod" in message


def test_values_the_config_resolver_would_rewrite_are_refused() -> None:
    message = _refusal([{"drop_series": {"label": "path", "regex": "a${x:y}"}}])
    assert message.startswith("steps.0: drop_series cannot run on otelcol")


def test_ottl_strings_escape_backslash_quote_and_control_characters() -> None:
    assert ottl_string('a\\d"b\n') == '"a\\\\d\\"b\\n"'
    config = _compile([{"drop_series": {"label": "path", "regex": '\\d+"x'}}])
    assert _conditions(config, "filter/phoenix_0_drop_series") == [
        'IsMatch(attributes["path"], "^(?:\\\\d+\\"x)$")'
    ]


# --- the validator ------------------------------------------------------------------------------


def _valid() -> dict[str, Any]:
    steps = [{"protect": {"selectors": CRITICAL}}, {"drop_labels": {"labels": ["pid"]}}]
    rendered = compile_otelcol(parse_pipeline({"steps": steps}), context())
    config: dict[str, Any] = yaml.safe_load(rendered.text)
    return config


def _problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_otelcol_config(yaml.safe_dump(config, sort_keys=False))
    return [(error.path, error.message) for error in caught.value.errors]


def test_the_pinned_release_lists_the_components() -> None:
    pinned = pinned_components()
    assert pinned.release == "v0.149.0"
    assert pinned.types("processor") == {
        "filter",
        "transform",
        "groupbyattrs",
        "metricstransform",
        "memory_limiter",
        "batch",
        "resource",
        "attributes",
    }
    modules = {c.type: c.module for c in pinned.components}
    assert modules["batch"] == "go.opentelemetry.io/collector/processor/batchprocessor"
    assert modules["health_check"].endswith("/extension/healthcheckextension")


@pytest.mark.parametrize(
    ("section", "component"),
    [
        ("processors", "topk"),
        ("processors", "adaptive_filter/x"),
        ("exporters", "pushgateway"),
    ],
)
def test_unknown_component_types_are_rejected(section: str, component: str) -> None:
    config = _valid()
    config[section][component] = {}
    pipeline = config["service"]["pipelines"]["metrics"]
    pipeline[section].append(component)
    [(path, message)] = _problems(config)
    assert path == f"{section}.{component}"
    assert "unknown" in message


def test_a_pipeline_using_an_undefined_processor_is_rejected() -> None:
    config = _valid()
    config["service"]["pipelines"]["metrics"]["processors"].insert(1, "filter/missing")
    assert _problems(config) == [
        ("service.pipelines.metrics.processors.1", "'filter/missing' is not defined in processors")
    ]


def test_an_unused_processor_is_rejected() -> None:
    config = _valid()
    config["processors"]["filter/spare"] = {"metrics": {"datapoint": ["true"]}}
    assert _problems(config) == [("processors.filter/spare", "defined but used by no pipeline")]


def test_pipelines_need_a_known_type_a_receiver_and_an_exporter() -> None:
    config = _valid()
    config["service"]["pipelines"]["profiles"] = {"receivers": ["prometheus"], "exporters": []}
    paths = [path for path, _ in _problems(config)]
    assert paths == ["service.pipelines.profiles", "service.pipelines.profiles.exporters"]


def test_missing_sections_are_rejected() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_otelcol_config("receivers: {}\n")
    assert {e.path for e in caught.value.errors} >= {"processors", "exporters", "service"}


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ('attributes["a"] == "x', "unbalanced quote"),
        ('Frobnicate(attributes["a"])', "unknown converter 'Frobnicate'"),
        ('attributes["a"] == "x" garbage', "unexpected 'garbage'"),
        ('name == "x"', "the datapoint context has no field 'name'"),
        ('(attributes["a"] == "x"', "expected ')'"),
        ('attributes["a"]', "is not a condition"),
        ("metric.bogus == 1", "metric has no field 'bogus'"),
        ("value_double < 1e-7", "unexpected 'e'"),  # OTTL floats have no exponent
    ],
)
def test_bad_ottl_conditions_are_rejected(condition: str, problem: str) -> None:
    config = _valid()
    config["processors"]["filter/x"] = {"metrics": {"datapoint": ["true", condition]}}
    config["service"]["pipelines"]["metrics"]["processors"].insert(1, "filter/x")
    [(path, message)] = _problems(config)
    assert path == "processors.filter/x.metrics.datapoint.1"
    assert problem in message


@pytest.mark.parametrize(
    ("context", "statement", "problem"),
    [
        ("datapoint", 'aggregate_on_attributes("sum")', "metric context only"),
        ("metric", 'delete_key(attributes, "a")', "the metric context has no field 'attributes'"),
        ("metric", 'IsMatch(name, "a")', "starts with an editor"),
        ("datapoint", 'set(attributes["a"], true) where', "expected a value"),
        ("datapoint", 'frob(attributes["a"])', "unknown editor 'frob'"),
    ],
)
def test_bad_ottl_statements_are_rejected(context: str, statement: str, problem: str) -> None:
    config = _valid()
    groups = config["processors"]["transform/phoenix_1_drop_labels"]["metric_statements"]
    groups.append({"context": context, "statements": [statement]})
    [(path, message)] = _problems(config)
    assert path == "processors.transform/phoenix_1_drop_labels.metric_statements.2.statements.0"
    assert problem in message


@pytest.mark.parametrize(
    ("context", "text", "statement"),
    [
        (
            "datapoint",
            'not (attributes["a"] == nil or IsMatch(attributes["a"], "^(?:x|)$"))',
            False,
        ),
        ("datapoint", 'metric.name == "m" and value_double < -0.5 or value_int >= 3', False),
        ("metric", 'IsMatch(metric.name, "x") and type == METRIC_DATA_TYPE_SUM', False),
        ("metric", 'aggregate_on_attributes("mean", ["a", "b"]) where IsMatch(name, "x")', True),
        ("datapoint", 'set(attributes["k"], Concat([attributes["a"], "b"], "-"))', True),
        ("inferred", 'set(datapoint.attributes["k"], resource.attributes["r"])', True),
    ],
)
def test_the_ottl_subset_phoenix_writes_parses(context: str, text: str, statement: bool) -> None:
    check_ottl(text, context, statement=statement)


def test_inferred_context_needs_prefixed_paths() -> None:
    with pytest.raises(OttlError, match="needs a context prefix"):
        check_ottl('attributes["a"] == "b"', "inferred", statement=False)


def test_not_yaml_is_rejected() -> None:
    with pytest.raises(ValidationFailed, match="not valid YAML"):
        validate_otelcol_config("receivers: [unclosed\n")


def test_the_rendered_config_carries_its_ports() -> None:
    rendered = compile_otelcol(Pipeline(), context())
    assert rendered.collector == "otelcol"
    assert rendered.ports == {"health": 13133, "telemetry": 18888}


def test_sink_credentials_become_exporter_headers() -> None:
    with_credentials = dataclasses.replace(
        context(),
        remote_write_bearer_token="tok-123",
        remote_write_headers={"X-Scope-OrgID": "tenant-7"},
    )
    rendered = compile_otelcol(parse_pipeline({"steps": []}), with_credentials)
    validate_otelcol_config(rendered.text)
    exporter = yaml.safe_load(rendered.text)["exporters"]["prometheusremotewrite"]
    assert exporter["headers"] == {"X-Scope-OrgID": "tenant-7", "Authorization": "Bearer tok-123"}
    assert "headers" not in _compile([])["exporters"]["prometheusremotewrite"]
