"""Compiler for the OpenTelemetry Collector (contrib): prometheus receiver, OTTL processors, remote
write.

Every step becomes one ``filter`` processor (datapoints are dropped where a condition holds) or
one ``transform`` processor, in step order, between ``memory_limiter`` and ``batch``. Conditions
are OTTL, which differs from Prometheus in three ways the compiler bridges:

- ``IsMatch`` searches (unanchored), so every regex is wrapped as ``^(?:re)$``;
- a missing attribute is ``nil``, not ``""``: where a test also holds for ``""`` it is written
  ``(attr == nil or test)``;
- the prometheus receiver moves ``job`` and ``instance`` to the resource attributes
  ``service.name`` and ``service.instance.id`` (and the exporter moves them back).

The collector sees values and can aggregate, so ``filter_below``, ``drop_labels`` and
``aggregate`` are exact; only ``top_k`` needs a keep-list recomputed from reference values.
``protect`` sets a datapoint attribute every later step excludes; it is deleted at the end.

The collector also scrapes its own telemetry (job ``phoenix_collector``, as prometheus-agent
does) through a receiver and pipeline of their own, untouched by the steps, at telemetry level
``detailed`` (the remote-write requests' sizes and durations): the KPIs read them at the
receiver (``phoenix_core/metrics/catalog.yaml``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from phoenix_core.pipelines.compiler import (
    CompileContext,
    RenderedConfig,
    Support,
    SupportMode,
    reference_forecast,
    refuse,
)
from phoenix_core.pipelines.ir import (
    Aggregate,
    DropLabels,
    DropMetrics,
    DropSeries,
    FilterBelow,
    KeepMetrics,
    KeepSeries,
    Pipeline,
    Protect,
    Sample,
    Step,
    TopK,
)
from phoenix_core.pipelines.prometheus_agent import SELF_JOB, duration, re2_escape
from phoenix_core.pipelines.selectors import Selector, parse_selector
from phoenix_core.wire.labels import IDENTITY_LABELS, exported, quoted
from phoenix_core.wire.tasks import CollectorKind

if TYPE_CHECKING:
    from phoenix_core.pipelines.simulator import Forecast

__all__ = ["SUPPORT", "compile_otelcol", "ottl_string"]

COLLECTOR = CollectorKind.OTELCOL
MARKER = "phoenix.protected"
PROTECTED = f'attributes["{MARKER}"]'
SELF_RECEIVER = f"prometheus/{SELF_JOB}"
"""A receiver of its own scrapes the collector's telemetry, in a pipeline without the steps (as
prometheus-agent's self-scrape has no relabelling), so its self-metrics reach the receiver with
the identity labels whatever the steps keep."""
NOT_SUMMARY = "metric.type != METRIC_DATA_TYPE_SUMMARY"
"""``aggregate_on_attributes`` refuses Summary metrics: steps that merge leave them alone."""
RESOURCE_LABELS = {
    "job": 'resource.attributes["service.name"]',
    "instance": 'resource.attributes["service.instance.id"]',
}
"""Labels the prometheus receiver keeps on the resource, not on the datapoints."""

SUPPORT: dict[str, Support] = {
    "keep_metrics": Support(SupportMode.EXACT, "filter processor on metric.name"),
    "drop_metrics": Support(SupportMode.EXACT, "filter processor on metric.name"),
    "keep_series": Support(SupportMode.EXACT, "filter processor on the datapoint attribute"),
    "drop_series": Support(SupportMode.EXACT, "filter processor on the datapoint attribute"),
    "drop_labels": Support(
        SupportMode.EXACT,
        'transform processor: delete_key, then aggregate_on_attributes("sum") merges the '
        "datapoints left with the same attributes; not for job or instance (resource "
        "attributes); Summary metrics keep their labels (the collector cannot sum them, and "
        "series that collided would reach the receiver as duplicates, of which it keeps one)",
    ),
    "aggregate": Support(
        SupportMode.EXACT,
        "transform processor: aggregate_on_attributes with the kept labels; only when `by` "
        "holds job and instance (the collector keeps them as resource attributes), and not "
        "over protected series; histograms keep their buckets and are always summed, Summary "
        "metrics are left as they are",
    ),
    "filter_below": Support(
        SupportMode.EXACT,
        "filter processor on value_double (the prometheus receiver produces double values)",
    ),
    "top_k": Support(
        SupportMode.BY_REFRESH,
        "a keep-list of the top k label values, recomputed from reference values",
    ),
    "sample": Support(
        SupportMode.REFUSED,
        "no collector component hashes series deterministically like Prometheus' hashmod",
    ),
    "protect": Support(
        SupportMode.EXACT, f"a datapoint attribute ({MARKER}) that every later step respects"
    ),
}


def ottl_string(text: str) -> str:
    """``text`` as a double-quoted OTTL string literal (Go escapes)."""
    return quoted(text)


def _number(value: float) -> str:
    """A float literal OTTL reads (it has no exponent syntax: always digits, a dot, digits)."""
    text = format(Decimal(repr(float(value))), "f")
    return text if "." in text else f"{text}.0"


def _path(label: str) -> str:
    if label == "__name__":
        return "metric.name"
    return RESOURCE_LABELS.get(label, f"attributes[{ottl_string(label)}]")


def _label_test(label: str, op: str, value: str) -> str:
    """The OTTL condition for one Prometheus matcher ``label op "value"`` (absent reads "")."""
    path = _path(label)
    nullable = path != "metric.name"
    if op in ("=", "!="):
        test, atomic = f"{path} == {ottl_string(value)}", False
        if value == "" and nullable:
            test, atomic = f"({path} == nil or {test})", True
    else:
        test, atomic = f"IsMatch({path}, {ottl_string(f'^(?:{value})$')})", True
        if nullable and re.fullmatch(value, "") is not None:
            test = f"({path} == nil or {test})"
    if op in ("!=", "!~"):
        return f"not {test}" if atomic else f"not ({test})"
    return test


def _all(parts: list[str]) -> str:
    return " and ".join(parts) if parts else "true"


def _scope(metrics: str) -> list[str]:
    return [] if metrics == ".*" else [_label_test("__name__", "=~", metrics)]


def _metric_scope(metrics: str) -> str:
    """A ``where`` clause for metric-context statements (empty for every metric)."""
    if metrics == ".*":
        return ""
    return f" where IsMatch(name, {ottl_string(f'^(?:{metrics})$')})"


class _Processors:
    """The processors of the steps, in order, and the ``protect`` selectors seen so far."""

    def __init__(self) -> None:
        self.processors: list[tuple[str, dict[str, Any]]] = []
        self.protects: list[Selector] = []

    @property
    def unprotected(self) -> list[str]:
        return [f"{PROTECTED} == nil"] if self.protects else []

    def drop_where(self, index: int, step: Step, terms: list[str]) -> None:
        """A filter processor dropping the unprotected datapoints where every term holds."""
        condition = _all([*terms, *self.unprotected])
        config = {"error_mode": "ignore", "metrics": {"datapoint": [condition]}}
        self._add(index, step, "filter", config)

    def transform(self, index: int, step: Step, groups: list[tuple[str, list[str]]]) -> None:
        statements = [{"context": context, "statements": lines} for context, lines in groups]
        self._add(
            index, step, "transform", {"error_mode": "ignore", "metric_statements": statements}
        )

    def _add(self, index: int, step: Step, kind: str, config: dict[str, Any]) -> None:
        text = yaml.safe_dump(config, width=1_000_000)
        if "${" in text or "$$" in text:
            raise refuse(
                index,
                step.kind,
                COLLECTOR,
                "a value contains '${' or '$$', which the collector's config resolver "
                "rewrites (variable expansion)",
            )
        self.processors.append((f"{kind}/phoenix_{index}_{step.kind}", config))


def compile_otelcol(pipeline: Pipeline, context: CompileContext) -> RenderedConfig:
    """A complete OpenTelemetry Collector config for one variant on one host."""
    out = _Processors()
    reference: Forecast | None = None
    for index, step in enumerate(pipeline.steps):
        if isinstance(step, Protect):
            _protect(out, index, step)
        elif isinstance(step, DropLabels):
            _drop_labels(out, index, step)
        elif isinstance(step, Aggregate):
            _aggregate(out, index, step)
        elif isinstance(step, Sample):
            raise refuse(index, step.kind, COLLECTOR, SUPPORT["sample"].note)
        elif isinstance(step, TopK):
            reference = reference or reference_forecast(
                pipeline, context, index, step.kind, COLLECTOR
            )
            out.drop_where(index, step, _top_k(step, reference.effects[index].keep_values))
        else:
            out.drop_where(index, step, _drop_terms(step))
    if out.protects:
        cleanup = {
            "context": "datapoint",
            "statements": [f"delete_key(attributes, {ottl_string(MARKER)})"],
        }
        out.processors.append(
            ("transform/phoenix_cleanup", {"error_mode": "ignore", "metric_statements": [cleanup]})
        )
    config = _config(context, out.processors)
    return RenderedConfig(
        collector=COLLECTOR,
        text=yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1_000_000),
        ports=dict(context.ports),
        refresh_seconds=(
            pipeline.refresh_seconds if any(isinstance(s, TopK) for s in pipeline.steps) else None
        ),
    )


def _drop_terms(step: Step) -> list[str]:
    """What a filtering step drops (before the protection check)."""
    if isinstance(step, KeepMetrics):
        return [_label_test("__name__", "!~", step.regex)]
    if isinstance(step, DropMetrics):
        return [_label_test("__name__", "=~", step.regex)]
    if isinstance(step, KeepSeries):
        return [*_scope(step.metrics), _label_test(step.label, "!~", step.regex)]
    if isinstance(step, DropSeries):
        return [*_scope(step.metrics), _label_test(step.label, "=~", step.regex)]
    if isinstance(step, FilterBelow):
        return [
            f"metric.name == {ottl_string(step.metric)}",
            f"value_double < {_number(step.threshold)}",
        ]
    raise TypeError(f"not a filtering step: {step.kind}")


def _top_k(step: TopK, keep: tuple[str, ...] | None) -> list[str]:
    """Drop, in scope, the series whose label value is not in the keep-list (all if it is empty)."""
    terms = _scope(step.scope)
    if keep:
        alternatives = "|".join(re2_escape(value) for value in keep)
        terms.append(_label_test(step.by_label, "!~", alternatives))
    return terms


def _protect(out: _Processors, index: int, step: Protect) -> None:
    statements = []
    for text in step.selectors:
        selector = parse_selector(text)
        condition = _all([_label_test(m.label, m.op, m.value) for m in selector.matchers])
        statements.append(f"set({PROTECTED}, true) where {condition}")
        out.protects.append(selector)
    out.transform(index, step, [("datapoint", statements)])


def _drop_labels(out: _Processors, index: int, step: DropLabels) -> None:
    resource = [label for label in step.labels if label in RESOURCE_LABELS]
    if resource:
        raise refuse(
            index,
            step.kind,
            COLLECTOR,
            f"{', '.join(resource)} are resource attributes in the collector "
            "(service.name, service.instance.id), not datapoint labels",
        )
    where = f" where {_all([*_scope(step.metrics), *out.unprotected, NOT_SUMMARY])}"
    deletes = [f"delete_key(attributes, {ottl_string(label)}){where}" for label in step.labels]
    merge = f'aggregate_on_attributes("sum"){_metric_scope(step.metrics)}'
    out.transform(index, step, [("datapoint", deletes), ("metric", [merge])])


def _aggregate(out: _Processors, index: int, step: Aggregate) -> None:
    missing = [label for label in RESOURCE_LABELS if label not in step.by]
    if missing:
        raise refuse(
            index,
            step.kind,
            COLLECTOR,
            f"`by` lacks {' and '.join(missing)}, which the collector keeps anyway as "
            "resource attributes (service.name, service.instance.id)",
        )
    scope = re.compile(step.metrics)
    exempt = [
        s.text for s in out.protects if s.metric_name is None or scope.fullmatch(s.metric_name)
    ]
    if exempt:
        raise refuse(
            index,
            step.kind,
            COLLECTOR,
            f"protected series ({', '.join(exempt)}) may belong to the metrics it "
            "aggregates, and the collector cannot exempt single datapoints from a "
            "metric-level aggregation",
        )
    kept = ", ".join(ottl_string(label) for label in step.by if label not in RESOURCE_LABELS)
    statement = f"aggregate_on_attributes({ottl_string(step.fn)}, [{kept}])"
    out.transform(index, step, [("metric", [statement + _metric_scope(step.metrics)])])


def _config(
    context: CompileContext, processors: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    interval = duration(context.scrape_interval_seconds)
    jobs = [
        {
            "job_name": target.job,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": target.metrics_path,
            "static_configs": [{"targets": [target.address]}],
        }
        for target in context.targets
    ]
    chain: list[tuple[str, dict[str, Any]]] = [
        ("memory_limiter", {"check_interval": "1s", "limit_mib": 512, "spike_limit_mib": 128}),
        ("transform/phoenix_identity", _identity_renames()),
        *processors,
        ("batch", {"timeout": duration(context.remote_write_deadline_seconds)}),
    ]
    telemetry = {"host": "127.0.0.1", "port": context.ports["telemetry"]}
    self_scrape = {
        "job_name": SELF_JOB,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "static_configs": [{"targets": [f"127.0.0.1:{context.ports['telemetry']}"]}],
        # target_info would make the receiver take the job from service.name (otelcol-phoenix)
        "metric_relabel_configs": [
            {"source_labels": ["__name__"], "regex": "target_info", "action": "drop"}
        ],
    }
    return {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{context.ports['health']}"}},
        "receivers": {
            "prometheus": {"config": {"scrape_configs": jobs}},
            SELF_RECEIVER: {"config": {"scrape_configs": [self_scrape]}},
        },
        "processors": dict(chain),
        "exporters": {
            "prometheusremotewrite": {
                "endpoint": context.remote_write_url,
                **_headers(context),
                "external_labels": context.external_labels,
                "target_info": {"enabled": False},
                "add_metric_suffixes": False,
                "resource_to_telemetry_conversion": {"enabled": False},
            }
        },
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {
                    # detailed: the remote-write requests' sizes and durations (bytes/s, lag)
                    "level": "detailed",
                    "readers": [{"pull": {"exporter": {"prometheus": telemetry}}}],
                }
            },
            "pipelines": {
                "metrics": {
                    "receivers": ["prometheus"],
                    "processors": [name for name, _ in chain],
                    "exporters": ["prometheusremotewrite"],
                },
                f"metrics/{SELF_JOB}": {
                    "receivers": [SELF_RECEIVER],
                    "processors": ["batch"],
                    "exporters": ["prometheusremotewrite"],
                },
            },
        },
    }


def _identity_renames() -> dict[str, Any]:
    """A source's own attribute named like one of Phoenix's labels keeps its value as
    ``exported_<name>`` (before any step), so that the exporter's external labels, which
    yield to datapoint attributes, always apply."""
    statements = []
    for label in IDENTITY_LABELS:
        path = f"attributes[{ottl_string(label)}]"
        statements.append(
            f"set(attributes[{ottl_string(exported(label))}], {path}) where {path} != nil"
        )
        statements.append(f"delete_key(attributes, {ottl_string(label)})")
    return {
        "error_mode": "ignore",
        "metric_statements": [{"context": "datapoint", "statements": statements}],
    }


def _headers(context: CompileContext) -> dict[str, Any]:
    headers = dict(context.remote_write_headers)
    if context.remote_write_bearer_token is not None:
        headers["Authorization"] = f"Bearer {context.remote_write_bearer_token}"
    return {"headers": headers} if headers else {}
