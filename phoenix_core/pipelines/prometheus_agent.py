"""Compiler for Prometheus in agent mode: scrape, ``metric_relabel_configs``, ``remote_write``.

Relabelling is stateless and sees labels only (never values) and cannot aggregate, so:
``top_k`` and ``filter_below`` become keep-/drop-lists computed from reference values;
``drop_labels`` is accepted only where the reference inventory shows no series would collide
(Prometheus would reject the duplicates and lose data silently); ``aggregate`` is refused.

``protect`` marks series with a temporary label that every later step checks. Conditions with
several parts are built with a marker label: set it where the positive parts hold (chained with a
fixed ``1;`` prefix, so label values containing the separator cannot confuse the match), clear it
where a negated part holds, then drop what is marked and not protected. All ``__tmp_phoenix_*``
labels are removed at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    HASHMOD_MODULUS,
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
from phoenix_core.pipelines.regex import range_regex
from phoenix_core.pipelines.selectors import parse_selector
from phoenix_core.wire.labels import IDENTITY_LABELS, exported
from phoenix_core.wire.tasks import CollectorKind

if TYPE_CHECKING:
    from phoenix_core.pipelines.simulator import Forecast, StepEffect

__all__ = ["SUPPORT", "compile_prometheus_agent", "duration", "re2_escape"]

COLLECTOR = CollectorKind.PROMETHEUS_AGENT
SELF_JOB = "phoenix_collector"
MARK = "__tmp_phoenix_mark"
TMP = "__tmp_phoenix_tmp"
PROTECTED = "__tmp_phoenix_protected"
HASH = "__tmp_phoenix_hash"

SUPPORT: dict[str, Support] = {
    "keep_metrics": Support(SupportMode.EXACT, "keep/drop relabelling on __name__"),
    "drop_metrics": Support(SupportMode.EXACT, "drop relabelling on __name__"),
    "keep_series": Support(SupportMode.EXACT, "relabelling on the label"),
    "drop_series": Support(SupportMode.EXACT, "relabelling on the label"),
    "drop_labels": Support(
        SupportMode.EXACT,
        "only where the reference inventory shows the labels to be redundant (no series "
        "collide); relabelling cannot sum colliding series",
        keeps_series="relabelling cannot sum series: it runs only where no series collide, "
        "so every series stays (with fewer labels)",
    ),
    "aggregate": Support(SupportMode.REFUSED, "relabelling cannot aggregate series"),
    "filter_below": Support(
        SupportMode.BY_REFRESH,
        "relabelling never sees values: a drop-list of the series below the threshold, "
        "recomputed from reference values",
    ),
    "top_k": Support(
        SupportMode.BY_REFRESH,
        "a keep-list of the top k label values, recomputed from reference values",
    ),
    "sample": Support(SupportMode.EXACT, "hashmod relabelling (MD5), 1000 buckets"),
    "protect": Support(SupportMode.EXACT, "a marker label that every later step respects"),
}

_RE2_SPECIAL = set(r"\.+*?()|[]{}^$")


def re2_escape(text: str) -> str:
    """Escape ``text`` so that RE2 (and Python) match it literally."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def duration(seconds: float) -> str:
    """A Prometheus duration: ``15s``, ``500ms``."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@dataclass(frozen=True)
class _Term:
    """``labels`` (joined with ';') match ``regex``; or, with ``negate``, do not."""

    labels: tuple[str, ...]
    regex: str
    negate: bool = False


class _Rules:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.protected = False

    def add(self, **rule: Any) -> None:
        self.rules.append(rule)

    def replace(self, labels: tuple[str, ...], regex: str, target: str, replacement: str) -> None:
        self.add(
            action="replace",
            source_labels=list(labels),
            regex=regex,
            target_label=target,
            replacement=replacement,
        )

    def labeldrop(self, regex: str) -> None:
        self.add(action="labeldrop", regex=regex)

    def mark(self, terms: list[_Term], target: str = MARK) -> None:
        """Set ``target`` to "1" on exactly the series where every term holds."""
        positives = [t for t in terms if not t.negate]
        negatives = [t for t in terms if t.negate]
        if positives:
            self.replace(positives[0].labels, positives[0].regex, target, "1")
        else:
            self.add(action="replace", target_label=target, replacement="1")
        for term in positives[1:]:
            self.replace((target, *term.labels), f"1;(?:{term.regex})", TMP, "1")
            self.replace((TMP,), "(.*)", target, "$1")
            self.labeldrop(TMP)
        for term in negatives:
            self.replace(term.labels, term.regex, target, "")

    def drop_where(self, terms: list[_Term]) -> None:
        """Drop the unprotected series where every term holds."""
        if not self.protected and len(terms) == 1:
            term = terms[0]
            self.add(
                action="keep" if term.negate else "drop",
                source_labels=list(term.labels),
                regex=term.regex,
            )
            return
        self.mark(terms)
        if self.protected:
            self.add(action="drop", source_labels=[PROTECTED, MARK], regex=";1")
        else:
            self.add(action="drop", source_labels=[MARK], regex="1")
        self.labeldrop(MARK)


def _scope(metrics: str) -> list[_Term]:
    return [] if metrics == ".*" else [_Term(("__name__",), metrics)]


def _unprotected(rules: _Rules) -> list[_Term]:
    return [_Term((PROTECTED,), "1", negate=True)] if rules.protected else []


def compile_prometheus_agent(pipeline: Pipeline, context: CompileContext) -> RenderedConfig:
    """A complete Prometheus agent-mode config for one variant on one host."""
    rules = _Rules()
    reference: Forecast | None = None
    for index, step in enumerate(pipeline.steps):
        if isinstance(step, Aggregate):
            raise refuse(index, step.kind, COLLECTOR, SUPPORT["aggregate"].note)
        if isinstance(step, TopK | FilterBelow | DropLabels):
            reference = reference or reference_forecast(
                pipeline, context, index, step.kind, COLLECTOR
            )
            _value_step(rules, index, step, reference.effects[index])
        else:
            _label_step(rules, step)
    if rules.rules:
        rules.labeldrop("__tmp_phoenix_.*")
    config = _config(context, [*_identity_renames(), *rules.rules])
    value_steps = any(isinstance(s, TopK | FilterBelow) for s in pipeline.steps)
    return RenderedConfig(
        collector=COLLECTOR,
        text=yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1_000_000),
        ports=dict(context.ports),
        refresh_seconds=pipeline.refresh_seconds if value_steps else None,
    )


def _identity_renames() -> list[dict[str, Any]]:
    """A source's own label named like one of Phoenix's keeps its value as ``exported_<name>``
    (before any step), so that the external labels, which yield, always apply."""
    renames: list[dict[str, Any]] = [
        {
            "action": "replace",
            "source_labels": [label],
            "regex": "(.+)",
            "target_label": exported(label),
            "replacement": "$1",
        }
        for label in IDENTITY_LABELS
    ]
    renames.append({"action": "labeldrop", "regex": "|".join(IDENTITY_LABELS)})
    return renames


def _label_step(rules: _Rules, step: Step) -> None:
    """Steps that relabelling runs from labels alone."""
    if isinstance(step, KeepMetrics):
        rules.drop_where([_Term(("__name__",), step.regex, negate=True)])
    elif isinstance(step, DropMetrics):
        rules.drop_where([_Term(("__name__",), step.regex)])
    elif isinstance(step, KeepSeries):
        rules.drop_where([*_scope(step.metrics), _Term((step.label,), step.regex, negate=True)])
    elif isinstance(step, DropSeries):
        rules.drop_where([*_scope(step.metrics), _Term((step.label,), step.regex)])
    elif isinstance(step, Sample):
        rules.add(
            action="hashmod",
            source_labels=[step.hash_label],
            modulus=HASHMOD_MODULUS,
            target_label=HASH,
        )
        kept = _Term((HASH,), range_regex(step.buckets_kept), negate=True)
        rules.drop_where([*_scope(step.metrics), kept])
        rules.labeldrop(HASH)
    elif isinstance(step, Protect):
        _protect(rules, step)


def _value_step(
    rules: _Rules, index: int, step: TopK | FilterBelow | DropLabels, effect: StepEffect
) -> None:
    """Steps that need the reference values: keep-/drop-lists and the collision check."""
    if isinstance(step, TopK):
        terms = _scope(step.scope)
        if effect.keep_values:
            alternatives = "|".join(re2_escape(v) for v in effect.keep_values)
            terms.append(_Term((step.by_label,), alternatives, negate=True))
        rules.drop_where(terms)
    elif isinstance(step, FilterBelow):
        _filter_below(rules, index, effect.dropped_series)
    else:
        if effect.series_out != effect.series_in:
            merged = effect.series_in - effect.series_out
            raise refuse(
                index,
                step.kind,
                COLLECTOR,
                f"the reference inventory shows {merged} series would collide once "
                f"{', '.join(step.labels)} are removed, and relabelling cannot sum them",
            )
        _drop_labels(rules, step)


def _protect(rules: _Rules, step: Protect) -> None:
    for text in step.selectors:
        terms = []
        for matcher in parse_selector(text).matchers:
            regex = matcher.value if matcher.op in ("=~", "!~") else re2_escape(matcher.value)
            terms.append(_Term((matcher.label,), regex, negate=matcher.op in ("!=", "!~")))
        rules.mark(terms)
        rules.replace((MARK,), "1", PROTECTED, "1")
        rules.labeldrop(MARK)
    rules.protected = True


def _filter_below(rules: _Rules, index: int, dropped: Any) -> None:
    if dropped is None or len(dropped) == 0:
        return
    columns = ["__name__", *sorted(c for c in dropped.columns if c != "__name__")]
    rows = dropped[columns].astype(str).itertuples(index=False, name=None)
    tuples = []
    for row in rows:
        if any(";" in value for value in row):
            reason = "a label value contains ';', the separator relabelling joins labels with"
            raise refuse(index, "filter_below", COLLECTOR, reason)
        tuples.append(";".join(re2_escape(value) for value in row))
    rules.drop_where([_Term(tuple(columns), "|".join(tuples))])


def _drop_labels(rules: _Rules, step: DropLabels) -> None:
    labels = "|".join(re2_escape(label) for label in step.labels)
    conditions = [*_scope(step.metrics), *_unprotected(rules)]
    if not conditions:
        rules.labeldrop(labels)
        return
    rules.mark(conditions)
    for label in step.labels:
        rules.replace((MARK,), "1", label, "")
    rules.labeldrop(MARK)


def _config(context: CompileContext, relabel: list[dict[str, Any]]) -> dict[str, Any]:
    interval = duration(context.scrape_interval_seconds)
    jobs = []
    for target in context.targets:
        job: dict[str, Any] = {
            "job_name": target.job,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": target.metrics_path,
            "static_configs": [{"targets": [target.address]}],
        }
        job["metric_relabel_configs"] = relabel
        jobs.append(job)
    http_port = context.ports["http"]
    jobs.append(
        {
            "job_name": SELF_JOB,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "static_configs": [{"targets": [f"127.0.0.1:{http_port}"]}],
        }
    )
    return {
        "global": {"scrape_interval": interval, "external_labels": context.external_labels},
        "scrape_configs": jobs,
        "remote_write": [_remote_write(context)],
    }


def _remote_write(context: CompileContext) -> dict[str, Any]:
    target: dict[str, Any] = {
        "url": context.remote_write_url,
        "queue_config": {"batch_send_deadline": duration(context.remote_write_deadline_seconds)},
    }
    if context.remote_write_bearer_token is not None:
        target["authorization"] = {
            "type": "Bearer",
            "credentials": context.remote_write_bearer_token,
        }
    if context.remote_write_headers:
        target["headers"] = dict(context.remote_write_headers)
    return target
