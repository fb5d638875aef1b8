"""Which reductions to consider, from the inventory's counts and the usage alone (no series):
each a ``Candidate`` (a template and its variables) or a ``Refusal`` saying why not.

1. **Drop a metric** no query reads (by name or by a pattern matching it).
2. **Drop the labels of a read metric** that no query depends on (``UsageIndex.uses`` False)
   and no critical selector that could match the metric names; a label with one value, and
   ``job``, ``instance``, ``le``, ``quantile`` and Phoenix's identity labels, are never
   considered. On ``otelcol`` a summary's labels are not either (the collector keeps them).
3. **Top-k** of a label that looks like processes, pods or ids (by its name, or by having
   about one value per series), across the metrics carrying it, ranked by one of them (a CPU
   metric if there is one): each metric whose every query names the values of the label it
   reads (they are protected) or that no query reads; metrics a query reads every value of
   are left out, each a refusal naming the query.

Every candidate's pipeline protects the critical selectors. Nothing is proposed while the
usage is incomplete: each candidate becomes a refusal saying so. Whether a candidate saves
anything, and whether its collector can run it, is the forecast's to say (``engine``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from phoenix_core.pipelines.selectors import Selector, parse_selector
from phoenix_core.recommendations.evidence import evidence, label_use_of, pinned_values
from phoenix_core.recommendations.model import Kind, Refusal, UsageEvidence
from phoenix_core.usage import QueryUsage, UsageIndex
from phoenix_core.wire.labels import IDENTITY_LABELS, promql_string
from phoenix_core.wire.tasks import CollectorKind

__all__ = [
    "HIGH_CARDINALITY_SHARE",
    "ID_LIKE",
    "NEVER_DROPPED",
    "Candidate",
    "Plan",
    "plan",
]

NEVER_DROPPED = frozenset({"__name__", "job", "instance", "le", "quantile", *IDENTITY_LABELS})
"""Labels no recommendation drops: the scrape target's, a histogram's or summary's own, and
Phoenix's identity labels."""
ID_LIKE = re.compile(
    r"(pid|ppid|tid|thread|process|process_name|proc|comm|exe|pod|pod_name|container_id|id|uid"
    r"|uuid|session|.+_id|.+_uid)"
)
"""Label names that look like processes, pods or ids (whole names)."""
HIGH_CARDINALITY_SHARE = 0.5
"""A label with at least this many values per series of a metric looks like an id, too."""


@dataclass(frozen=True)
class Candidate:
    """A reduction to forecast: what it changes, the template and variables that do it, the
    metrics whose series the forecast needs (``reads``) and the usage behind it."""

    kind: Kind
    metrics: tuple[str, ...]
    labels: tuple[str, ...]
    template: str
    variables: dict[str, Any]
    reads: tuple[str, ...]
    usage: UsageEvidence
    title: str
    protected_values: tuple[str, ...] = ()
    """top_k: the selectors of the label values queries name, protected."""


@dataclass
class Plan:
    candidates: list[Candidate] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def plan(
    metrics: pd.DataFrame,
    labels: pd.DataFrame,
    usage: UsageIndex,
    *,
    critical: Sequence[str],
    collector: CollectorKind,
    k: int,
    incomplete: str | None = None,
) -> Plan:
    """The candidates and refusals for an inventory's ``metrics`` [metric, series] and
    ``labels`` [metric, label, values] tables. ``incomplete``: why the usage cannot be trusted
    to say a metric or label is unread (then every candidate is refused with it)."""
    series = dict(zip(metrics["metric"], metrics["series"].astype(int), strict=True))
    rules = _Rules(series, labels, usage, [parse_selector(s) for s in critical], collector, k)
    found = Plan()
    rules.drop_metrics(found)
    rules.drop_labels(found)
    rules.top_k(found)
    if incomplete is None:
        return found
    refused = [
        Refusal(
            kind=c.kind,
            metrics=list(c.metrics),
            labels=list(c.labels),
            series=sum(series.get(m, 0) for m in c.metrics),
            reason=f"{_what(c)}: {incomplete}",
            usage=c.usage,
        )
        for c in found.candidates
    ]
    return Plan([], [*refused, *found.refusals])


def _what(candidate: Candidate) -> str:
    return candidate.title[0].upper() + candidate.title[1:]


@dataclass
class _Rules:
    series: dict[str, int]
    labels: pd.DataFrame
    usage: UsageIndex
    critical: list[Selector]
    collector: CollectorKind
    k: int

    @property
    def _critical_texts(self) -> list[str]:
        return [selector.text for selector in self.critical]

    def _refuse(
        self,
        kind: Kind,
        metrics: Sequence[str],
        labels: Sequence[str],
        reason: str,
        usage: UsageEvidence | None = None,
    ) -> Refusal:
        total = sum(self.series.get(metric, 0) for metric in metrics)
        return Refusal(
            kind=kind,
            metrics=list(metrics),
            labels=list(labels),
            series=total,
            reason=reason,
            usage=usage,
        )

    # --- 1. metrics nobody reads -------------------------------------------------------------

    def drop_metrics(self, found: Plan) -> None:
        for metric in self.series:
            readers = self.usage.users(metric)
            if readers:
                first = readers[0]
                verb = "reads" if len(readers) == 1 else "read"
                reason = (
                    f"drop metric {metric}: {_count(len(readers))} {verb} it, first "
                    f"{first.source}: {first.query}"
                )
                found.refusals.append(
                    self._refuse(
                        Kind.DROP_METRIC, [metric], [], reason, evidence(self.usage, [metric])
                    )
                )
                continue
            found.candidates.append(
                Candidate(
                    kind=Kind.DROP_METRIC,
                    metrics=(metric,),
                    labels=(),
                    template="drop-metrics",
                    variables={"regex": metric, "critical": self._critical_texts},
                    reads=(metric,),
                    usage=evidence(self.usage, [metric]),
                    title=f"drop metric {metric}",
                )
            )

    # --- 2. labels nobody depends on ---------------------------------------------------------

    def drop_labels(self, found: Plan) -> None:
        summaries = _summaries(self.labels)
        for name, rows in self.labels.groupby("metric", sort=True):
            metric = str(name)
            if metric not in self.series or not self.usage.is_used(metric):
                continue  # unread: dropping the whole metric is the candidate
            droppable = []
            considered = rows[(rows["values"] > 1) & ~rows["label"].isin(NEVER_DROPPED)]
            for label in sorted(considered["label"].astype(str)):
                reason, usage = self._label_kept(metric, label, summaries)
                if reason:
                    found.refusals.append(
                        self._refuse(Kind.DROP_LABELS, [metric], [label], reason, usage)
                    )
                else:
                    droppable.append(label)
            if not droppable:
                continue
            use = self.usage.label_use(metric)
            names = ", ".join(droppable)
            summary = (
                f"read by {_count(len(self.usage.users(metric)))}; none depends on {names} "
                f"(together they use: {use})"
            )
            found.candidates.append(
                Candidate(
                    kind=Kind.DROP_LABELS,
                    metrics=(metric,),
                    labels=tuple(droppable),
                    template="drop-labels",
                    variables={
                        "labels": droppable,
                        "apply_to": metric,
                        "critical": self._critical_texts,
                    },
                    reads=(metric,),
                    usage=evidence(self.usage, [metric], summary=summary),
                    title=f"drop label{'s' if len(droppable) > 1 else ''} {names} of {metric}",
                )
            )

    def _label_kept(
        self, metric: str, label: str, summaries: frozenset[str]
    ) -> tuple[str, UsageEvidence | None]:
        """Why ``label`` of ``metric`` stays ("" when it may go), with the usage that says so."""
        what = f"drop label {label} of {metric}"
        if self.usage.uses(metric, label):
            using = [r for r in self.usage.users(metric) if label_use_of(r, metric).uses(label)]
            first = using[0]
            usage = evidence(
                self.usage,
                [metric],
                only=lambda record, m: label_use_of(record, m).uses(label),
                summary=f"{_count(len(using))} {'depends' if len(using) == 1 else 'depend'} "
                f"on {label}",
            )
            return f"{what}: {first.source} uses it: {first.query}", usage
        for selector in self.critical:
            names = {matcher.label for matcher in selector.matchers}
            if label in names and _may_match(selector, metric):
                return f"{what}: the critical selector {selector.text} names it", None
        if self.collector is CollectorKind.OTELCOL and metric in summaries:
            return (
                f"{what}: a summary's series, which otelcol keeps with all their labels (it "
                "cannot combine summaries)",
                None,
            )
        return "", None

    # --- 3. top-k of labels that look like processes, pods or ids ----------------------------

    def top_k(self, found: Plan) -> None:
        for name, rows in self.labels.groupby("label", sort=True):
            label = str(name)
            if label in NEVER_DROPPED or not self._id_like(label, rows):
                continue
            self._top_k_of(label, rows, found)

    def _top_k_of(self, label: str, rows: pd.DataFrame, found: Plan) -> None:
        family = [str(m) for m in rows["metric"] if str(m) in self.series]
        if not family:
            return
        values = dict(zip(rows["metric"].astype(str), rows["values"].astype(int), strict=True))
        ranking = _ranking(family, self.series)
        if values[ranking] <= self.k:
            reason = (
                f"top-{self.k} of {label}: {ranking}, which ranks them, has "
                f"{values[ranking]:,} values of it, not more than {self.k}: all would stay"
            )
            found.refusals.append(self._refuse(Kind.TOP_K, family, [label], reason))
            return

        def reads(record: QueryUsage, metric: str) -> str:
            return self._reads_text(record, metric, label)

        scope, pinned = [], set()
        for metric in family:
            wide, named = self._reading_every_value(metric, label)
            if wide is None:
                scope.append(metric)
                pinned |= named
                continue
            reason = (
                f"top-{self.k} of {label} on {metric}: {wide.source} reads every {label}: "
                f"{wide.query}"
            )
            usage = evidence(self.usage, [metric], reads)
            found.refusals.append(self._refuse(Kind.TOP_K, [metric], [label], reason, usage))
        if any(self.usage.is_used(metric) for metric in scope):
            found.candidates.append(self._top_k_candidate(label, ranking, scope, pinned))
        # else no query reads what it would cut: dropping those metrics saves more

    def _id_like(self, label: str, rows: pd.DataFrame) -> bool:
        if ID_LIKE.fullmatch(label):
            return True
        for metric, values in zip(rows["metric"], rows["values"], strict=True):
            total = self.series.get(str(metric), 0)
            if values > self.k and values >= HIGH_CARDINALITY_SHARE * total:
                return True
        return False

    def _reading_every_value(self, metric: str, label: str) -> tuple[QueryUsage | None, set[str]]:
        """The first query reading every value of ``label`` of ``metric`` (None: none does),
        and the values the others name."""
        named: set[str] = set()
        for record in self.usage.users(metric):
            values = pinned_values(record, metric, label)
            if values is None:
                return record, named
            named |= values
        return None, named

    def _reads_text(self, record: QueryUsage, metric: str, label: str) -> str:
        values = pinned_values(record, metric, label)
        if values is None:
            return f"every {label}"
        shown = ", ".join(f'{label}="{v}"' for v in sorted(values))
        return f"{shown} (protected)"

    def _top_k_candidate(
        self, label: str, ranking: str, scope: list[str], pinned: set[str]
    ) -> Candidate:
        protected = tuple(f'{{{label}="{promql_string(v)}"}}' for v in sorted(pinned))
        reads = tuple(dict.fromkeys([*scope, ranking]))
        readers = sum(1 for m in scope for _ in self.usage.users(m))
        summary = (
            "none: no query reads them"
            if not readers
            else f"every query reading them names the {label} values it reads"
            + (
                f" ({len(pinned)} {'value' if len(pinned) == 1 else 'values'}, protected)"
                if pinned
                else ""
            )
        )
        return Candidate(
            kind=Kind.TOP_K,
            metrics=tuple(scope),
            labels=(label,),
            template="top-k",
            variables={
                "metric": ranking,
                "k": self.k,
                "by_label": label,
                "apply_to": "|".join(scope),
                "critical": [*self._critical_texts, *protected],
            },
            reads=reads,
            usage=evidence(
                self.usage,
                scope,
                lambda record, m: self._reads_text(record, m, label),
                summary=summary,
            ),
            title=(
                f"keep the {self.k} {label} values with the most {ranking} on {_metrics(scope)}"
            ),
            protected_values=protected,
        )


def _count(queries: int) -> str:
    return f"{queries} {'query' if queries == 1 else 'queries'}"


def _metrics(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) <= 3:
        return ", ".join(names)
    return f"{len(names)} metrics ({', '.join(names[:2])}, …)"


def _ranking(family: list[str], series: dict[str, int]) -> str:
    """The metric that ranks a family's label values: a CPU metric if the family has one
    (processes, pods and containers are told apart by what they burn), else its biggest."""
    cpu = [metric for metric in family if "cpu" in metric.lower()]
    pool = cpu or family
    return sorted(pool, key=lambda metric: (-series[metric], metric))[0]


def _summaries(labels: pd.DataFrame) -> frozenset[str]:
    """The metrics of summary families: those with a ``quantile`` label, their ``_sum`` and
    ``_count``."""
    bases = set(labels.loc[labels["label"] == "quantile", "metric"].astype(str))
    return frozenset(f"{base}{suffix}" for base in bases for suffix in ("", "_sum", "_count"))


def _may_match(selector: Selector, metric: str) -> bool:
    """Whether ``selector`` may match series of ``metric`` (by its ``__name__`` matchers)."""
    return all(m.matches(metric) for m in selector.matchers if m.label == "__name__")
