"""Usage over many sources, by metric: is a metric read at all, by whom, and which labels.

A metric name is read by the references to it by name and by every pattern that matches it
(``{__name__=~"node_.*"}``); its label use is the union of theirs. Records that failed say
nothing about what they read: ``complete`` is False while there are any, and ``problems()``
lists them with their sources, so a recommender can refuse to call a metric unused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

import pandas as pd

from phoenix_core.usage.label_use import LabelUse
from phoenix_core.usage.metric_ref import MetricRef
from phoenix_core.usage.records import QuerySource, QueryUsage

__all__ = ["SOURCE_COLUMNS", "UsageIndex"]

SOURCE_COLUMNS = tuple(f.name for f in fields(QuerySource))
"""The columns that say where a query came from (``QuerySource``'s fields), in every frame."""

_UNUSED = LabelUse()


class UsageIndex:
    """The records of any number of sources, indexed by the metrics they read."""

    def __init__(self, records: Iterable[QueryUsage]) -> None:
        self.records: tuple[QueryUsage, ...] = tuple(records)
        self._readers: dict[MetricRef, list[tuple[QueryUsage, LabelUse]]] = {}
        for record in self.records:
            for use in record.uses:
                self._readers.setdefault(use.metric, []).append((record, use.labels))
        self._patterns = [ref for ref in self._readers if ref.is_pattern]

    @property
    def complete(self) -> bool:
        """Whether every query was read (no ``error`` record); skipped ones are not PromQL."""
        return all(record.status != "error" for record in self.records)

    def refs_reading(self, metric: str) -> list[MetricRef]:
        """The references that read ``metric``: its name, and each pattern matching it."""
        refs = [ref for ref in self._patterns if ref.matches(metric)]
        exact = MetricRef.exact(metric)
        return [exact, *refs] if exact in self._readers else refs

    def is_used(self, metric: str) -> bool:
        return bool(self.refs_reading(metric))

    def users(self, metric: str) -> list[QueryUsage]:
        """The records of the queries that read ``metric``, in the order they were given."""
        seen = {id(record) for ref in self.refs_reading(metric) for record, _ in self._readers[ref]}
        return [record for record in self.records if id(record) in seen]

    def label_use(self, metric: str) -> LabelUse:
        """The labels of ``metric`` any query depends on (none if no query reads it)."""
        use = _UNUSED
        for ref in self.refs_reading(metric):
            for _, labels in self._readers[ref]:
                use = use | labels
        return use

    def uses(self, metric: str, label: str) -> bool:
        """Whether any query depends on ``label`` of ``metric``: dropping it is unsafe."""
        return self.label_use(metric).uses(label)

    def references(self) -> pd.DataFrame:
        """One row per query and metric it reads: the source columns, ``query``, ``metric``
        (name or pattern key), ``is_pattern``, ``labels`` (the named ones, sorted),
        ``all_labels`` and ``all_except``."""
        rows = [
            {
                **_source_row(record.source),
                "query": record.query,
                "metric": use.metric.key,
                "is_pattern": use.metric.is_pattern,
                **_label_columns(use.labels),
            }
            for record in self.records
            for use in record.uses
        ]
        columns = [*SOURCE_COLUMNS, "query", "metric", "is_pattern", *_LABEL_COLUMNS]
        return pd.DataFrame(rows, columns=columns)

    def metrics(self) -> pd.DataFrame:
        """One row per metric name or pattern read: ``queries`` (how many read it), ``files``
        (sorted), and the union of its label uses (``labels``, ``all_labels``,
        ``all_except``); patterns are not expanded here, see ``for_inventory``."""
        rows = []
        for ref in sorted(self._readers, key=lambda r: r.key):
            readers = self._readers[ref]
            use = _UNUSED
            for _, labels in readers:
                use = use | labels
            rows.append(
                {
                    "metric": ref.key,
                    "is_pattern": ref.is_pattern,
                    "queries": len({id(record) for record, _ in readers}),
                    "files": tuple(sorted({record.source.file for record, _ in readers})),
                    **_label_columns(use),
                }
            )
        columns = ["metric", "is_pattern", "queries", "files", *_LABEL_COLUMNS]
        return pd.DataFrame(rows, columns=columns)

    def for_inventory(self, metrics: Iterable[str]) -> pd.DataFrame:
        """One row per metric name of an inventory (e.g. ``series["__name__"].unique()``):
        ``used``, ``queries`` (how many read it, by name or pattern) and its label use."""
        rows = []
        for metric in metrics:
            refs = self.refs_reading(metric)
            readers = {id(r) for ref in refs for r, _ in self._readers[ref]}
            rows.append(
                {
                    "metric": metric,
                    "used": bool(refs),
                    "queries": len(readers),
                    **_label_columns(self.label_use(metric)),
                }
            )
        return pd.DataFrame(rows, columns=["metric", "used", "queries", *_LABEL_COLUMNS])

    def problems(self) -> pd.DataFrame:
        """The records not read: ``status`` (``error`` or ``skipped``), ``message``, the source
        columns, ``source`` (one readable line) and ``query``."""
        rows = [
            {
                "status": record.status,
                "message": record.message,
                **_source_row(record.source),
                "source": str(record.source),
                "query": record.query,
            }
            for record in self.records
            if record.status != "ok"
        ]
        columns = ["status", "message", *SOURCE_COLUMNS, "source", "query"]
        return pd.DataFrame(rows, columns=columns)


_LABEL_COLUMNS = ("labels", "all_labels", "all_except")


def _label_columns(use: LabelUse) -> dict[str, object]:
    return {
        "labels": tuple(sorted(use.names)),
        "all_labels": use.all_labels,
        "all_except": tuple(sorted(use.all_except)),
    }


def _source_row(source: QuerySource) -> dict[str, object]:
    return {name: getattr(source, name) for name in SOURCE_COLUMNS}
