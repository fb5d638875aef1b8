"""The KPI catalog: what Phoenix measures for every variant on every host, as data (issue 20).

``catalog.yaml`` beside this module holds one entry per KPI: its name, unit, which direction is
better, whether it must have data, whether it is critical, its default gate, and where its
value comes from (``Source``):

- ``receiver``: one PromQL query over the series the variant wrote, the same for every
  collector kind;
- ``collector_self``: one query per collector kind over the collector's self-metrics, which
  both kinds scrape as job ``phoenix_collector`` and write beside their output (a kind whose
  collector exposes no such figure is listed under ``unsupported`` with the reason);
- ``metrics_cache``: the agent's measurement of the collector process (CPU, RSS), sent to the
  API's metrics cache; the Pushgateway query and the collector's own process metrics at the
  receiver are given as alternatives;
- ``derived``: computed in pandas from other data (critical-series coverage from the series
  themselves, host balance from ``active_series``).

Queries are templates (``$written``, ``$window`` …, listed in ``PLACEHOLDERS``) that
``render`` fills in with escaped values (``$``, not ``{}``: PromQL is full of braces). A KPI's
default gate is data too; ``Kpi.verdict_gate()`` gives it in the verdict's terms. Aliases let
an experiment's gate names (``cpu_cores``) find their KPI (``collector_cpu_cores``).
``builtin_catalog()`` loads the shipped file; ``load_catalog`` validates any other, and every
error names the field at fault (``ValidationFailed`` with paths such as
``kpis.failed_samples.queries.otelcol``).
"""

from __future__ import annotations

import math
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from phoenix_core.analysis.gates import Centre, Direction, Gate
from phoenix_core.errors import FieldError, NotFound, ValidationFailed
from phoenix_core.pipelines.prometheus_agent import SELF_JOB, duration, re2_escape
from phoenix_core.pipelines.scrape import SCRAPE_META_SERIES
from phoenix_core.wire.labels import HOST, VARIANT, matchers, promql_string
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "PLACEHOLDERS",
    "CacheReduce",
    "CacheSource",
    "Catalog",
    "DefaultGate",
    "Derived",
    "Kpi",
    "QueryScope",
    "Source",
    "builtin_catalog",
    "catalog_markdown",
    "jobs_regex",
    "load_catalog",
    "render",
]

KpiId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""A KPI's name: lowercase letters, digits and ``_``, at most 64 long (``kpi_results.kpi``)."""

PLACEHOLDERS = {
    "identity": 'the experiment\'s identity matcher: phoenix_experiment_id="<id>"',
    "jobs": 'the sources\' job names as one anchored regex alternation, for job=~"$jobs"',
    "meta": 'the scrape\'s own series (up|scrape_duration_seconds|...), for __name__!~"$meta"',
    "self_job": f"the job of the collector's self-scrape ({SELF_JOB})",
    "written": '$identity,job=~"$jobs",__name__!~"$meta": the series a variant writes',
    "collector": '$identity,job="$self_job": the collector\'s self-metrics',
    "window": "the lookback of each point, as a PromQL duration (30s)",
    "window_seconds": "the same lookback in seconds (30.0)",
}
"""Every placeholder a query template may use, and what it becomes."""


class Source(StrEnum):
    """Where a KPI's value comes from."""

    RECEIVER = "receiver"
    COLLECTOR_SELF = "collector_self"
    METRICS_CACHE = "metrics_cache"
    DERIVED = "derived"


class Derived(StrEnum):
    """The KPIs computed in pandas from other measurements."""

    CRITICAL_COVERAGE = "critical_coverage"
    HOST_BALANCE = "host_balance"
    QUERIES_PRESERVED = "queries_preserved"


class CacheReduce(StrEnum):
    """How the metrics cache's samples of one collector become KPI values."""

    RATE = "rate"
    """A counter: its increase per second between consecutive samples (resets handled)."""
    VALUE = "value"
    """A gauge: each sample as it is."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DefaultGate(_Model):
    """A KPI's default pass condition for a candidate: exactly one of these bounds.

    ``max_increase`` and ``required_decrease`` are fractions of the baseline's value
    (``0.10`` = 10 %); ``no_increase`` allows no increase at all; ``min`` and ``max`` bound the
    candidate's own value in the KPI's unit.
    """

    max_increase: float | None = Field(default=None, ge=0)
    required_decrease: float | None = Field(default=None, gt=0, lt=1)
    no_increase: Literal[True] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name, value in self.__dict__.items() if value is not None]
        if len(given) != 1:
            bounds = ", ".join(type(self).model_fields)
            raise ValueError(f"a gate has exactly one of {bounds} (given: {given or 'none'})")
        return self

    def bounds(self) -> dict[str, float]:
        """The same condition in ``phoenix_core.spec.Gate``'s terms (percent change against
        the baseline, or the candidate's own value)."""
        if self.max_increase is not None:
            return {"max_change_percent": self.max_increase * 100}
        if self.required_decrease is not None:
            return {"max_change_percent": -self.required_decrease * 100}
        if self.no_increase:
            return {"max_change_percent": 0.0}
        if self.min is not None:
            return {"min_value": self.min}
        assert self.max is not None
        return {"max_value": self.max}

    def describe(self, unit: str = "") -> str:
        """The condition in words: ``at most +10 % against the baseline``."""
        suffix = f" {unit}" if unit and unit != "ratio" else ""
        if self.max_increase is not None:
            return f"at most +{self.max_increase * 100:g} % against the baseline"
        if self.required_decrease is not None:
            return f"at least {self.required_decrease * 100:g} % below the baseline"
        if self.no_increase:
            return "no increase against the baseline"
        if self.min is not None:
            return f"at least {self.min:g}{suffix}"
        return f"at most {self.max:g}{suffix}"


class CacheSource(_Model):
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    reduce: CacheReduce


class Kpi(_Model):
    """One KPI: how it is measured, read and judged."""

    name: KpiId
    aliases: list[KpiId] = Field(
        default_factory=list, description="Other names it answers to (an experiment's gates)."
    )
    description: str = Field(min_length=1)
    unit: str = Field(min_length=1, max_length=32)
    better: Direction
    must_have_data: bool
    critical: bool = Field(description="A breach of its gate fails the candidate outright.")
    gate: DefaultGate
    test_spread: bool = Field(
        default=False,
        description="Also fail a candidate whose spread grows beyond the gate's allowance "
        "(Brown-Forsythe): for figures where variance matters (CPU, memory).",
    )
    tolerance: float | None = Field(
        default=None,
        gt=0,
        description="In the KPI's unit: a difference this small is of no practical "
        "consequence (a worsening within it passes; a spread must grow by more to fail).",
    )
    centre: Centre = Field(
        default=Centre.MEDIAN,
        description="The statistic compared: the median for levels, the mean for counters "
        "that are mostly zero (whose median is 0 on both sides).",
    )
    source: Source
    query: str | None = Field(default=None, description="receiver: the query of every kind.")
    queries: dict[CollectorKind, str] = Field(
        default_factory=dict,
        description="collector_self: the query per collector kind; metrics_cache: the "
        "collector's own process metrics at the receiver, an alternative to the cache.",
    )
    unsupported: dict[CollectorKind, str] = Field(
        default_factory=dict, description="Collector kinds it cannot be measured on, and why."
    )
    cache: CacheSource | None = None
    pushgateway_query: str | None = None
    derived: Derived | None = None

    def query_for(self, kind: CollectorKind | str) -> str | None:
        """The query template for a collector kind; None where there is none."""
        if self.source is Source.RECEIVER:
            return self.query
        return self.queries.get(CollectorKind(kind))

    def verdict_gate(self) -> dict[str, Any]:
        """The default gate in the verdict's terms (``phoenix_core.analysis.gates.Gate``:
        direction, ``min_improvement``/``max_worsening`` as fractions, ``floor``/``ceiling``),
        with the unit, whether it is critical and whether it must have data."""
        gate = self.gate
        bound: dict[str, float] = {}
        if gate.required_decrease is not None:
            bound["min_improvement"] = gate.required_decrease
        elif gate.max_increase is not None or gate.no_increase:
            bound["max_worsening"] = gate.max_increase or 0.0
        elif gate.min is not None:
            bound["floor"] = gate.min
        else:
            bound["ceiling"] = gate.max if gate.max is not None else math.inf
        extra: dict[str, Any] = {"test_spread": True} if self.test_spread else {}
        if self.centre is not Centre.MEDIAN:
            extra["centre"] = self.centre.value
        if self.tolerance is not None:
            extra["tolerance"] = self.tolerance
        return {
            "kpi": self.name,
            "unit": self.unit,
            "direction": self.better.value,
            **bound,
            "critical": self.critical,
            "must_have_data": self.must_have_data,
            **extra,
        }

    def default_gate(self) -> Gate:
        """The default gate as the verdict takes it."""
        return Gate.parse(self.verdict_gate())

    def templates(self) -> dict[str, str]:
        """Every query template of this KPI by field path (``queries.otelcol``)."""
        found = {"query": self.query, "pushgateway_query": self.pushgateway_query}
        found |= {f"queries.{kind.value}": text for kind, text in self.queries.items()}
        return {path: text for path, text in found.items() if text is not None}


class Catalog(_Model):
    version: Literal[1]
    kpis: list[Kpi] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Raised as ValidationFailed, not ValueError: pydantic would name the whole catalog,
        # and these errors must name the KPI's field (``kpis.failed_samples.queries.otelcol``).
        errors = _consistency_errors(self.kpis)
        if errors:
            raise ValidationFailed(errors)
        return self

    def get(self, name: str) -> Kpi:
        """The KPI of that name or alias."""
        for kpi in self.kpis:
            if name == kpi.name or name in kpi.aliases:
                return kpi
        raise NotFound("KPI", name)

    def names(self) -> list[str]:
        return [kpi.name for kpi in self.kpis]

    def gates(self) -> tuple[Gate, ...]:
        """Every KPI's default gate: what ``analysis.verdict.judge`` applies by default."""
        return tuple(kpi.default_gate() for kpi in self.kpis)


_FIELDS_BY_SOURCE = {
    Source.RECEIVER: {"query"},
    Source.COLLECTOR_SELF: {"queries", "unsupported"},
    Source.METRICS_CACHE: {"cache", "queries", "unsupported", "pushgateway_query"},
    Source.DERIVED: {"derived"},
}
_OPTIONAL = {"query", "queries", "unsupported", "cache", "pushgateway_query", "derived"}


def _consistency_errors(kpis: Sequence[Kpi]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for kpi in kpis:
        at = ("kpis", kpi.name)
        for field, name in (("name", kpi.name), *(("aliases", alias) for alias in kpi.aliases)):
            if name in seen:
                errors.append(FieldError((*at, field), f"{name} names another KPI already"))
            seen.add(name)
        allowed = _FIELDS_BY_SOURCE[kpi.source]
        for field in sorted(_OPTIONAL - allowed):
            if getattr(kpi, field):
                errors.append(FieldError((*at, field), f"not used by source {kpi.source.value}"))
        errors += _source_errors(kpi, at)
        for path, text in kpi.templates().items():
            errors += [
                FieldError((*at, *path.split(".")), problem) for problem in _template_errors(text)
            ]
    return errors


def _source_errors(kpi: Kpi, at: tuple[str, ...]) -> list[FieldError]:
    errors = []
    if kpi.source is Source.RECEIVER and not kpi.query:
        errors.append(FieldError((*at, "query"), "a receiver KPI needs its query"))
    if kpi.source is Source.COLLECTOR_SELF:
        for kind in CollectorKind:
            if (kind in kpi.queries) == (kind in kpi.unsupported):
                errors.append(
                    FieldError(
                        (*at, "queries", kind.value),
                        "give either a query for this collector kind or, under unsupported, "
                        "why it cannot be measured there",
                    )
                )
    if kpi.source is Source.METRICS_CACHE and kpi.cache is None:
        errors.append(FieldError((*at, "cache"), "a metrics_cache KPI names its cached metric"))
    if kpi.source is Source.DERIVED and kpi.derived is None:
        errors.append(FieldError((*at, "derived"), "say what it is derived from"))
    return errors


_TEMPLATE = string.Template


def _template_errors(text: str) -> list[str]:
    problems = []
    if not _TEMPLATE(text).is_valid():
        problems.append("a '$' that starts no placeholder (write '$$' for a literal '$')")
    else:
        unknown = sorted(set(_TEMPLATE(text).get_identifiers()) - set(PLACEHOLDERS))
        if unknown:
            known = ", ".join(f"${name}" for name in PLACEHOLDERS)
            problems.append(f"unknown placeholder {', '.join(unknown)} (known: {known})")
    if VARIANT not in text or HOST not in text:
        problems.append(f"the query must keep {VARIANT} and {HOST} (by ({VARIANT}, {HOST}))")
    return problems


@dataclass(frozen=True)
class QueryScope:
    """What a query template is rendered for: one experiment, its sources' jobs, a lookback."""

    experiment_id: str | uuid.UUID
    jobs: Sequence[str]
    window_seconds: float

    def __post_init__(self) -> None:
        errors = []
        if not self.jobs:
            errors.append(FieldError(("jobs",), "at least one source job"))
        if not (math.isfinite(self.window_seconds) and self.window_seconds >= 0.001):
            errors.append(FieldError(("window_seconds",), "a lookback of at least 1 ms"))
        if errors:
            raise ValidationFailed(errors)


def jobs_regex(jobs: Sequence[str]) -> str:
    """An RE2 alternation that matches exactly these job names (not yet a PromQL string)."""
    return "|".join(re2_escape(job) for job in jobs)


def render(template: str, scope: QueryScope) -> str:
    """The PromQL of ``template`` for ``scope``: every placeholder filled in, every value
    escaped (a job name's regex characters match literally; quotes cannot end a string)."""
    identity = matchers(experiment_id=str(scope.experiment_id))
    jobs = promql_string(jobs_regex(scope.jobs))
    meta = "|".join(sorted(SCRAPE_META_SERIES))
    values = {
        "identity": identity,
        "jobs": jobs,
        "meta": meta,
        "self_job": SELF_JOB,
        "written": f'{identity},job=~"{jobs}",__name__!~"{meta}"',
        "collector": f'{identity},job="{SELF_JOB}"',
        "window": duration(scope.window_seconds),
        "window_seconds": repr(round(scope.window_seconds, 3)),
    }
    return _TEMPLATE(template).substitute(values)


_INDEX = re.compile(r"^\d+$")


def load_catalog(source: str | Mapping[str, Any]) -> Catalog:
    """A catalog from YAML text or a parsed mapping; ``ValidationFailed`` names the field."""
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ValidationFailed([FieldError((), f"not YAML: {exc}")]) from None
    else:
        data = source
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldError((), "a catalog is a mapping (version, kpis)")])
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise _named(ValidationFailed.from_pydantic(exc), data) from None


def _named(error: ValidationFailed, data: Mapping[str, Any]) -> ValidationFailed:
    """``kpis.3.gate`` becomes ``kpis.failed_samples.gate`` where entry 3 has a name."""
    kpis = data.get("kpis")
    renamed = []
    for field in error.errors:
        loc = list(field.loc)
        at_entry = len(loc) > 1 and loc[0] == "kpis" and _INDEX.match(str(loc[1]))
        if at_entry and isinstance(kpis, list):
            index = int(loc[1])
            entry = kpis[index] if index < len(kpis) else None
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if isinstance(name, str) and name:
                loc[1] = name
        renamed.append(FieldError(loc, field.message))
    return ValidationFailed(renamed)


@cache
def builtin_catalog() -> Catalog:
    """The catalog Phoenix ships (``phoenix_core/metrics/catalog.yaml``)."""
    text = (resources.files("phoenix_core.metrics") / "catalog.yaml").read_text()
    return load_catalog(text)


def catalog_markdown(catalog: Catalog) -> str:
    """The catalog for people: a table of every KPI, then each one's queries (the generated
    part of ``docs/kpis.md``)."""
    lines = [
        "| KPI | unit | better | must have data | critical | default gate | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for kpi in catalog.kpis:
        yes = {True: "yes", False: "no"}
        lines.append(
            f"| [`{kpi.name}`](#{kpi.name}) | {kpi.unit} | {kpi.better.value} "
            f"| {yes[kpi.must_have_data]} | {yes[kpi.critical]} | {_gate_text(kpi)} "
            f"| {kpi.source.value} |"
        )
    for kpi in catalog.kpis:
        lines += ["", f"### {kpi.name}", "", kpi.description, ""]
        if kpi.aliases:
            lines.append(f"- also named: {', '.join(f'`{alias}`' for alias in kpi.aliases)}")
        if kpi.cache is not None:
            reduce = "per second between rows" if kpi.cache.reduce is CacheReduce.RATE else "as is"
            lines.append(f"- metrics cache: `{kpi.cache.metric}`, {reduce}")
        if kpi.query is not None:
            lines += _query("every collector kind", kpi.query)
        for kind in CollectorKind:
            if kind in kpi.queries:
                where = "at the receiver" if kpi.source is Source.METRICS_CACHE else ""
                lines += _query(f"{kind.value} {where}".strip(), kpi.queries[kind])
            elif kind in kpi.unsupported:
                lines.append(f"- {kind.value}: not measured ({kpi.unsupported[kind]})")
        if kpi.pushgateway_query is not None:
            lines += _query("Pushgateway (agents pushing there)", kpi.pushgateway_query)
        if kpi.derived is not None:
            lines.append("- computed in pandas: `phoenix_core.metrics.derived`")
    return "\n".join(lines) + "\n"


def _gate_text(kpi: Kpi) -> str:
    text = kpi.gate.describe(kpi.unit)
    if kpi.tolerance is not None:
        text += f", or within {kpi.tolerance:g} {kpi.unit}"
    if kpi.test_spread:
        text += "; spread at most ×1.5"
    return text


def _query(title: str, template: str) -> list[str]:
    return [f"- {title}:", "", "  ```promql", f"  {template.strip()}", "  ```"]
