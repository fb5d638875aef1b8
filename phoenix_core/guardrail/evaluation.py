"""The fleet's queries evaluated on each variant's data at the receiver: ``queries_preserved``.

For an experiment, every query its usage sources hold (``phoenix_core.usage`` records) is
scoped to the baseline and to each candidate (``scoping.scoped``: the experiment id and the
variant on every selector, and never the collectors' self-scrape job), evaluated at the
receiver at the same evaluation times, and compared (``comparison.compare_results``). A
candidate's KPI is the share of the compared queries whose results match, in %.

Per evaluation time t, each side is read as a range query over [t - s, t + s] with a step of s
(s: the scrape interval, whole seconds): its result at t, and around it, which the comparison
needs because two collectors scrape the same source up to s apart. A query whose result is a
range vector (``x[5m]``) cannot be a range query: both sides are read at t, and the baseline's
samples of the last two intervals are its values around t. With ``scrape_interval=0`` both are
read at t alone and compared exactly (up to the tolerance). A query several sources hold is
evaluated once. A dashboard variable that lists one label's values (``label_values(query,
label)``; ``metrics(regex)``, the values of ``__name__``) is evaluated as ``group by (label)
(query)``: only those values are compared, as only they reach the dashboard.

What each (candidate, query) comes to, the ``outcome`` of a finding:

- ``preserved``: the same series and values at every evaluation time (with data at one at least);
- ``changed``: different at one time at least, or the candidate's query fails where the
  baseline's answers; the finding says how (``comparison``'s words);
- ``no_data``: no series on either side at any time: nothing to compare (an alert that never
  fired in the window);
- ``failed``: the baseline's query fails at the receiver (a query the receiver refuses, a
  timeout): nothing to compare it with;
- ``not_evaluated``: the record is not a query (``error``, ``skipped``), the query cannot be
  scoped, or it returns a string.

Only ``preserved`` and ``changed`` are compared: the KPI is preserved / compared x 100, NaN when
nothing was compared (no data is never 100 %). The others are listed with their reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from phoenix_core.errors import ValidationFailed
from phoenix_core.guardrail.comparison import (
    DEFAULT_TOLERANCE,
    Comparison,
    combine,
    compare_results,
)
from phoenix_core.guardrail.printer import format_string
from phoenix_core.guardrail.scoping import ResultType, result_type, scoped
from phoenix_core.metrics.reader import MetricsReader, MetricsUnavailable
from phoenix_core.pipelines.prometheus_agent import SELF_JOB
from phoenix_core.usage.dashboards import grafana_function
from phoenix_core.usage.records import QuerySource, QueryUsage
from phoenix_core.usage.usage_index import SOURCE_COLUMNS
from phoenix_core.wire.labels import EXPERIMENT, VARIANT

__all__ = [
    "FINDING_COLUMNS",
    "KPI",
    "KPI_COLUMNS",
    "OUTCOMES",
    "GuardrailResult",
    "evaluation_times",
    "preserved_queries",
    "subject",
]

logger = logging.getLogger(__name__)

KPI = "queries_preserved"
KPI_COLUMNS = (
    "candidate",
    KPI,
    "preserved",
    "compared",
    "changed",
    "no_data",
    "failed",
    "not_evaluated",
    "queries",
)
FINDING_COLUMNS = (
    "candidate",
    "subject",
    "source",
    *SOURCE_COLUMNS,
    "query",
    "outcome",
    "finding",
    "baseline_series",
    "candidate_series",
    "max_difference",
    "scoped_query",
)
_EXCLUDE = {"job": SELF_JOB}
"""The collectors' own self-metrics are Phoenix's, not the fleet's: no query reads them."""


@dataclass(frozen=True)
class GuardrailResult:
    """``kpi``: one row per candidate (``KPI_COLUMNS``: the KPI in %, NaN when no query was
    compared, and the count of each outcome); ``findings``: one row per candidate and query
    (``FINDING_COLUMNS``), in the records' order."""

    kpi: pd.DataFrame
    findings: pd.DataFrame
    evaluated_at: tuple[datetime, ...] = ()

    def value(self, candidate: str) -> float:
        """``candidate``'s ``queries_preserved`` in %."""
        row = self.kpi[self.kpi["candidate"] == candidate]
        if row.empty:
            raise KeyError(candidate)
        return float(row[KPI].iloc[0])

    def rows(self, candidate: str) -> list[dict[str, Any]]:
        """Every query's comparison on ``candidate`` (``FINDING_COLUMNS`` but the candidate),
        JSON-ready: a number with no value (NaN) is None."""
        rows = self.findings[self.findings["candidate"] == candidate].drop(columns="candidate")
        return [
            {str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in rows.astype(object).to_dict("records")
        ]

    def lines(self, candidate: str, outcomes: Sequence[str] = ("changed",)) -> list[str]:
        """What would lose data on ``candidate``, one line per query: "alert `HighCPU`: returns
        0 series instead of 12"."""
        rows = self.findings[
            (self.findings["candidate"] == candidate) & self.findings["outcome"].isin(outcomes)
        ]
        return [f"{r.subject}: {r.finding}" for r in rows.itertuples()]


def evaluation_times(
    window_start: datetime, window_end: datetime, points: int = 3
) -> list[datetime]:
    """``points`` times evenly spread over the window, the last at its end and none at its start
    (a query's range at the start would reach into the warm-up), in whole seconds."""
    if points < 1:
        raise ValueError(f"points must be at least 1, not {points}")
    if window_end <= window_start:
        raise ValueError(f"the window ends ({window_end}) before it starts ({window_start})")
    step = (window_end - window_start) / points
    return [_whole_seconds(window_start + step * (k + 1)) for k in range(points)]


def preserved_queries(  # noqa: PLR0917 - the one call the verdict makes, in the order it reads
    reader: MetricsReader,
    experiment_id: str,
    baseline: str,
    candidates: Sequence[str],
    at: datetime | Sequence[datetime],
    records: Sequence[QueryUsage],
    *,
    scrape_interval: float = 15.0,
    tolerance: float = DEFAULT_TOLERANCE,
    exclude: Mapping[str, str] | None = None,
) -> GuardrailResult:
    """Every query of ``records`` evaluated at ``at`` (one time or several; whole seconds) on
    the baseline's and each candidate's data at the receiver, compared; see the module
    docstring. ``scrape_interval`` (seconds): how far apart two collectors' samples of the same
    source may be; ``exclude``: labels no selector may match (default: the collectors'
    self-scrape job)."""
    times = [_whole_seconds(at)] if isinstance(at, datetime) else [_whole_seconds(t) for t in at]
    if not times:
        raise ValueError("give at least one evaluation time")
    if baseline in candidates:
        raise ValueError(f"the baseline {baseline!r} is among the candidates")
    run = _Run(
        reader=reader,
        experiment_id=experiment_id,
        baseline=baseline,
        candidates=list(candidates),
        times=times,
        half=math.ceil(scrape_interval) if scrape_interval > 0 else 0,
        tolerance=tolerance,
        exclude=dict(_EXCLUDE if exclude is None else exclude),
    )
    done: dict[tuple[str, str | None], dict[str, _Finding]] = {}
    rows: list[dict[str, Any]] = []
    for candidate in candidates:
        for record in records:
            question = _question(record)
            if isinstance(question, _Finding):
                rows.append(_row(candidate, record, question))
                continue
            if question not in done:
                done[question] = run.query(*question)
            rows.append(_row(candidate, record, done[question][candidate]))
    findings = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    kpi = _kpi(findings, candidates)
    for row in kpi.to_dict("records"):
        share = float(row[KPI])
        logger.info(
            "queries preserved on %s: %s of %s compared (%s)",
            row["candidate"],
            row["preserved"],
            row["compared"],
            "no query compared" if math.isnan(share) else f"{share:.1f} %",
            extra={"action": "query_guardrail", "experiment_id": experiment_id},
        )
    return GuardrailResult(kpi=kpi, findings=findings, evaluated_at=tuple(times))


def subject(source: QuerySource) -> str:
    """Who reads the query, as a person names it: "alert `HighCPU`", "panel 'Requests by pod'
    of dashboard 'HTTP'", "query at runbook.txt:3"."""
    if source.kind == "rules":
        if source.rule is None:
            return f"rule file {source.file}"
        what = "alert" if source.rule_type == "alert" else "recording rule"
        return f"{what} `{source.rule}`"
    if source.kind == "dashboard":
        board = f"dashboard '{source.dashboard_title or source.dashboard_uid or source.file}'"
        if source.variable is not None:
            return f"variable `{source.variable}` of {board}"
        if source.panel_title is None and source.panel_id is None:
            return board
        return f"panel '{source.panel_title or source.panel_id}' of {board}"
    return f"query at {source.file}:{source.line}" if source.line else f"queries in {source.file}"


@dataclass(frozen=True, slots=True)
class _Finding:
    outcome: str
    finding: str
    baseline_series: float = math.nan
    candidate_series: float = math.nan
    max_difference: float = math.nan
    scoped_query: str | None = None


@dataclass
class _Run:
    reader: MetricsReader
    experiment_id: str
    baseline: str
    candidates: list[str]
    times: list[datetime]
    half: int
    tolerance: float
    exclude: dict[str, str]

    def scope(self, query: str, variant: str, values_of: str | None) -> str:
        labels = {EXPERIMENT: self.experiment_id, VARIANT: variant}
        text = scoped(query, labels, exclude=self.exclude)
        return text if values_of is None else f"group by ({values_of}) ({text})"

    def query(self, query: str, values_of: str | None) -> dict[str, _Finding]:
        """One query on every candidate: each one's finding. ``values_of``: compare only the
        values this label takes on the query's series."""
        try:
            kind = result_type(query)
            variants = [self.baseline, *self.candidates]
            texts = {v: self.scope(query, v, values_of) for v in variants}
        except ValidationFailed as exc:
            reason = getattr(exc, "reason", str(exc))
            return dict.fromkeys(
                self.candidates, _Finding("not_evaluated", f"not evaluated: {reason}")
            )
        if kind == "string":
            why = "not evaluated: the query is a string, which reads no series"
            return dict.fromkeys(self.candidates, _Finding("not_evaluated", why))
        base = [self.read(texts[self.baseline], kind, t, baseline=True) for t in self.times]
        return {c: self.compare(base, texts[c], kind) for c in self.candidates}

    def read(self, text: str, kind: ResultType, at: datetime, *, baseline: bool) -> _Read | str:
        """One side's result at ``at`` and around it (see the module docstring), or why the
        receiver gave none."""
        try:
            if kind == "matrix" or self.half == 0:
                frame = self.reader.instant(text, at)
                if kind != "matrix" or self.half == 0 or not baseline:
                    return frame, None
                since = pd.Timestamp(at - timedelta(seconds=2 * self.half))
                return frame, frame[frame["timestamp"] > since]
            half = timedelta(seconds=self.half)
            around = self.reader.range(text, at - half, at + half, step=self.half)
        except MetricsUnavailable as exc:
            return _why(exc, text)
        return around[around["timestamp"] == pd.Timestamp(at)], around

    def compare(self, base: list[_Read | str], text: str, kind: ResultType) -> _Finding:
        points: list[Comparison] = []
        failure: str | None = None
        for at, baseline in zip(self.times, base, strict=True):
            if isinstance(baseline, str):
                failure = failure or baseline
                continue
            candidate = self.read(text, kind, at, baseline=False)
            if isinstance(candidate, str):
                series = _series_count(baseline[0])
                words = f"fails at the receiver ({candidate}), where the baseline's returns"
                words += f" {series} series"
                points.append(Comparison("changed", words, series, 0))
                continue
            points.append(
                compare_results(
                    baseline[0],
                    candidate[0],
                    baseline_around=baseline[1],
                    candidate_around=candidate[1],
                    tolerance=self.tolerance,
                    drop_labels=(EXPERIMENT, VARIANT),
                )
            )
        changed = any(p.outcome == "changed" for p in points)
        if failure is not None and not changed:
            words = f"not compared: the baseline's query fails: {failure}"
            return _Finding("failed", words, scoped_query=text)
        found = combine(points)
        return _Finding(
            found.outcome,
            found.finding,
            found.baseline_series,
            found.candidate_series,
            found.max_difference,
            text,
        )


_Read = tuple[pd.DataFrame, pd.DataFrame | None]
"""One side's result at an evaluation time, and its results around it (None: only at it)."""


def _question(record: QueryUsage) -> tuple[str, str | None] | _Finding:
    """What to evaluate for ``record``: its query and, for a dashboard variable that lists one
    label's values (``label_values(query, label)``, ``metrics(regex)``: ``__name__``), that
    label, whose values alone are compared; or why it is not evaluated."""
    if not record.ok:
        why = "the query does not parse" if record.status == "error" else "skipped"
        return _Finding("not_evaluated", f"not evaluated: {why}: {record.message}")
    if record.source.variable is None:
        return record.expanded, None
    function, args = grafana_function(record.query)
    if function == "label_values" and len(args) == 2:
        return record.expanded, args[1]
    if function == "metrics":
        (use,) = record.uses
        names = ", ".join(f"__name__{m.op}{format_string(m.value)}" for m in use.metric.matchers)
        return f"{{{names}}}", "__name__"
    return record.expanded, None


def _why(exc: MetricsUnavailable, query: str) -> str:
    """The reader's message without the (long, scoped) query it names."""
    return str(exc).replace(f" {query!r}", "")


def _series_count(frame: pd.DataFrame) -> int:
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    return len(frame.drop_duplicates(subset=labels)) if labels else len(frame)


def _not_a_query(record: QueryUsage) -> _Finding:
    if record.status == "error":
        return _Finding(
            "not_evaluated", f"not evaluated: the query does not parse: {record.message}"
        )
    return _Finding("not_evaluated", f"not evaluated: skipped: {record.message}")


def _row(candidate: str, record: QueryUsage, finding: _Finding) -> dict[str, Any]:
    source = record.source
    return {
        "candidate": candidate,
        "subject": subject(source),
        "source": str(source),
        **{name: getattr(source, name) for name in SOURCE_COLUMNS},
        "query": record.query,
        "outcome": finding.outcome,
        "finding": finding.finding,
        "baseline_series": finding.baseline_series,
        "candidate_series": finding.candidate_series,
        "max_difference": finding.max_difference,
        "scoped_query": finding.scoped_query,
    }


def _kpi(findings: pd.DataFrame, candidates: Sequence[str]) -> pd.DataFrame:
    rows = []
    for candidate in candidates:
        outcomes = findings.loc[findings["candidate"] == candidate, "outcome"].value_counts()
        count = {name: int(outcomes.get(name, 0)) for name in OUTCOMES}
        compared = count["preserved"] + count["changed"]
        share = 100.0 * count["preserved"] / compared if compared else math.nan
        rows.append(
            {
                "candidate": candidate,
                KPI: share,
                "compared": compared,
                **count,
                "queries": int(outcomes.sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(KPI_COLUMNS))


OUTCOMES = ("preserved", "changed", "no_data", "failed", "not_evaluated")
"""What a query can come to on a candidate (docs/guardrail.md, Findings)."""


def _whole_seconds(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone; Phoenix passes UTC datetimes")
    return at.replace(microsecond=0)
