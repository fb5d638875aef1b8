"""Analysing an experiment: measure its KPIs over the measurement window, judge each candidate
against the baseline, store the results, and say the verdict (issue 20).

``Analyses.analyze`` is the controller's analysis hook (an experiment in ``analyzing``);
``Analyses.recompute`` is ``POST …/analysis``: from the samples stored with the last analysis
(``source="stored"``: the same verdict unless the gates or the code changed), or measured again
(``source="measurements"``: Prometheus and the metrics cache, while they still hold the window).

Measurements: the receiver and the collectors' self-metrics from Prometheus (the controller's
``prometheus_url``), one range query per KPI with a point every scrape interval; the collectors'
CPU and memory from the agents' metrics cache (``POST /agent/v1/metrics``), so the embedded
default needs no Pushgateway. Gates: the KPI catalog's defaults, each replaced by the spec's
gate for that KPI; critical-series coverage is judged only where the spec names critical
selectors (without them there is nothing to cover, and the analysis says so).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from phoenix_core.analysis.gates import Gate
from phoenix_core.analysis.verdict import Verdict, judge
from phoenix_core.controller.analysis import AnalysisResult
from phoenix_core.errors import Conflict
from phoenix_core.guardrail import evaluation_times, preserved_queries
from phoenix_core.lifecycle import ExperimentState
from phoenix_core.lifecycle import Verdict as Outcome
from phoenix_core.metrics import derived
from phoenix_core.metrics.catalog import Catalog, Derived, Source, builtin_catalog
from phoenix_core.metrics.measurement import MISSING_COLUMNS, Measurement, measure
from phoenix_core.metrics.reader import MetricsReader
from phoenix_core.spec import ExperimentSpec
from phoenix_core.store.agent_data import cached_metrics
from phoenix_core.store.analyses import AnalysisRecord, AnalysisRepository, KpiRow
from phoenix_core.store.deployments import DeploymentRepository
from phoenix_core.store.experiments import ExperimentRecord, ExperimentRepository
from phoenix_core.store.session import Store
from phoenix_core.use_cases.guardrail_report import GuardrailReport, guardrail_report
from phoenix_core.use_cases.usage import usage_records

__all__ = ["Analyses", "SampleSource", "gates_for"]

NO_CRITICAL_SELECTORS = (
    "critical_coverage: not judged: the experiment names no critical selectors (spec field"
    " critical_selectors), so there are no critical series to cover"
)
NO_USAGE_SOURCES = (
    "queries_preserved: not judged: the experiment names no usage sources (spec field"
    " usage_sources), so there are no queries to compare"
)


class SampleSource(StrEnum):
    """Where an analysis takes its samples from."""

    MEASUREMENTS = "measurements"
    """Prometheus and the metrics cache, over the experiment's measurement window."""
    STORED = "stored"
    """The raw samples stored with the experiment's last analysis."""


def gates_for(spec: ExperimentSpec, catalog: Catalog) -> tuple[Gate, ...]:
    """The gates an experiment is judged by: each catalog default, or the spec's gate for that
    KPI in its place; no coverage gate without critical selectors."""
    chosen = {catalog.get(gate.kpi).name: gate.verdict_gate() for gate in spec.gates}
    gates = tuple(chosen.get(gate.kpi, gate) for gate in catalog.gates())
    if not spec.critical_selectors:
        coverage = {k.name for k in catalog.kpis if k.derived is Derived.CRITICAL_COVERAGE}
        gates = tuple(gate for gate in gates if gate.kpi not in coverage)
    if not spec.usage_sources:
        guardrail = {k.name for k in catalog.kpis if k.derived is Derived.QUERIES_PRESERVED}
        gates = tuple(gate for gate in gates if gate.kpi not in guardrail)
    return gates


@dataclass
class Analyses:
    """The analysis use cases; ``reader`` opens a Prometheus reader for each measurement."""

    store: Store
    reader: Callable[[], MetricsReader]
    scrape_interval_seconds: float
    catalog: Catalog = field(default_factory=builtin_catalog)
    actor: str = "controller"

    @classmethod
    def from_prometheus(cls, store: Store, prometheus_url: str, scrape_interval: float) -> Analyses:
        """The production wiring: measurements from the Prometheus at ``prometheus_url``."""
        from phoenix_core.metrics.reader import PrometheusReader

        return cls(
            store,
            reader=lambda: PrometheusReader(prometheus_url, timeout=30),
            scrape_interval_seconds=scrape_interval,
        )

    def stored(
        self, experiment_id: uuid.UUID, *, per_host: bool | None = None
    ) -> tuple[AnalysisRecord, list[KpiRow]]:
        """The experiment's last analysis and its rows; ``Conflict`` if it has none yet."""
        with self.store.session() as session:
            record = ExperimentRepository(session).get(experiment_id)
            repository = AnalysisRepository(session)
            analysis = repository.get(experiment_id)
            if analysis is None:
                raise Conflict(
                    f"Experiment {experiment_id} is not analysed yet ({record.state.value}):"
                    " its KPIs and verdict come once it is analysed."
                )
            return analysis, repository.rows(experiment_id, per_host=per_host)

    def guardrail(self, experiment_id: uuid.UUID) -> GuardrailReport:
        """The query guardrail's findings of the last analysis; ``Conflict`` if none yet."""
        analysis, rows = self.stored(experiment_id)
        with self.store.session() as session:
            spec = ExperimentRepository(session).get(experiment_id).spec
        return guardrail_report(experiment_id, spec, analysis, rows)

    def analyze(self, experiment: ExperimentRecord) -> AnalysisResult:
        """The controller's hook: measure, judge, store; the verdict with its reasons."""
        analysis = self.run(experiment, SampleSource.MEASUREMENTS, actor=self.actor)
        return AnalysisResult(Outcome(analysis.outcome), analysis.reasons)

    def recompute(
        self, experiment_id: uuid.UUID, source: SampleSource, *, actor: str
    ) -> AnalysisRecord:
        """Analyse a completed experiment again and store its new verdict."""
        with self.store.session() as session:
            record = ExperimentRepository(session).get(experiment_id)
            stored = AnalysisRepository(session).get(experiment_id)
        if record.state is not ExperimentState.COMPLETED:
            raise Conflict(
                f"Experiment {experiment_id} is '{record.state.value}': an analysis is"
                " recomputed once it has completed."
            )
        if source is SampleSource.STORED and stored is None:
            raise Conflict(
                f"Experiment {experiment_id} has no stored analysis to recompute from; ask for"
                f" source '{SampleSource.MEASUREMENTS.value}'."
            )
        analysis = self.run(record, source, actor=actor)
        with self.store.session() as session:
            ExperimentRepository(session).record_verdict(
                experiment_id,
                Outcome(analysis.outcome),
                analysis.reasons,
                actor=actor,
                source=source.value,
            )
        return analysis

    def run(
        self, experiment: ExperimentRecord, source: SampleSource, *, actor: str
    ) -> AnalysisRecord:
        """Judge the experiment on samples from ``source`` and store the results."""
        window = experiment.measurement_window
        if window is None:
            raise Conflict(f"Experiment {experiment.id} has no measurement window yet.")
        if source is SampleSource.MEASUREMENTS:
            measurement = self.measure(experiment)
        else:
            measurement = self.stored_measurement(experiment.id)
        spec = experiment.spec
        gates = gates_for(spec, self.catalog)
        verdict = judge(
            measurement.samples,
            spec.baseline.name,
            gates,
            candidates=[variant.name for variant in spec.candidates],
        )
        reasons = list(verdict.reasons)
        if not spec.critical_selectors:
            reasons.append(NO_CRITICAL_SELECTORS)
        if not spec.usage_sources:
            reasons.append(NO_USAGE_SOURCES)
        analysis = AnalysisRecord(
            experiment_id=experiment.id,
            outcome=verdict.outcome.value,
            winner=verdict.winner,
            reasons=reasons,
            candidates=[
                {
                    "variant": c.variant,
                    "outcome": c.outcome.value,
                    "reasons": list(c.reasons),
                    "notes": [*c.notes, *measurement.findings.get(c.variant, [])],
                }
                for c in verdict.candidates
            ],
            gates=[gate.model_dump(mode="json") for gate in gates],
            missing=_records(measurement.missing),
            window_start=window.start,
            window_end=window.end,
            source=source.value,
            computed_by=actor,
            computed_at=datetime.now(UTC),
        )
        rows = [
            *self._host_rows(measurement),
            *self._verdict_rows(verdict, spec.baseline.name, measurement),
        ]
        with self.store.session() as session:
            AnalysisRepository(session).replace(analysis, rows)
        return analysis

    # --- samples ---------------------------------------------------------------------------

    def measure(self, experiment: ExperimentRecord) -> Measurement:
        """Every KPI of the catalog over the experiment's window: Prometheus, then the cache."""
        window = experiment.measurement_window
        assert window is not None
        spec = experiment.spec
        with self.store.session() as session:
            hosts = sorted(
                host.hostname for host in DeploymentRepository(session).hosts(experiment.id)
            )
        variants = [variant.name for variant in spec.variants]
        reader = self.reader()
        try:
            measured = measure(
                reader,
                self.catalog,
                experiment_id=experiment.id,
                collector_kind=spec.collector,
                jobs=[source.name for source in spec.sources],
                window_start=window.start,
                window_end=window.end,
                step=self.scrape_interval_seconds,
                variants=variants,
                hosts=hosts,
                baseline=spec.baseline.name,
                critical_selectors=spec.critical_selectors,
            )
            measured = self._with_guardrail(measured, experiment, reader)
        finally:
            reader.close()
        return self._with_cache(measured, experiment.id, variants, hosts)

    def _with_guardrail(
        self, measured: Measurement, experiment: ExperimentRecord, reader: MetricsReader
    ) -> Measurement:
        """``queries_preserved``: the usage sources' queries read at the receiver for the
        baseline and each candidate, compared (``phoenix_core.guardrail``); its findings."""
        spec = experiment.spec
        kpis = [k for k in self.catalog.kpis if k.derived is Derived.QUERIES_PRESERVED]
        if not kpis or not spec.usage_sources:
            return measured
        assert measured.window_start is not None and measured.window_end is not None
        with self.store.session() as session:
            records = usage_records(session, spec.usage_sources)
        times = evaluation_times(measured.window_start, measured.window_end)
        candidates = [variant.name for variant in spec.candidates]
        result = preserved_queries(
            reader,
            str(experiment.id),
            spec.baseline.name,
            candidates,
            times,
            records,
            scrape_interval=self.scrape_interval_seconds,
        )
        name = kpis[0].name
        at = measured.window_end
        rows = [(name, spec.baseline.name, derived.ALL_HOSTS, at, 100.0)]  # its own reference
        gaps, findings = [], {}
        for candidate in candidates:
            value = result.value(candidate)
            findings[candidate] = [f"{name}: {line}" for line in result.lines(candidate)]
            if math.isnan(value):
                why = "no query of the usage sources had data to compare (see the findings)"
                gaps.append((name, candidate, derived.ALL_HOSTS, why))
                findings[candidate] += [
                    f"{name}: {line}"
                    for line in result.lines(candidate, ("no_data", "failed", "not_evaluated"))
                ]
            else:
                rows.append((name, candidate, derived.ALL_HOSTS, at, value))
        stamps = ", ".join(f"{t:%H:%M:%S}" for t in times)
        queries = dict(measured.queries)
        queries[name] = (
            f"derived: the {len(records)} queries of {', '.join(spec.usage_sources)}, scoped to "
            f"each variant and read at the receiver at {stamps} UTC (docs/guardrail.md)"
        )
        samples = pd.DataFrame(rows, columns=list(derived.KPI_COLUMNS))
        samples["timestamp"] = pd.to_datetime(samples["timestamp"], utc=True)
        return replace(
            measured,
            samples=pd.concat([measured.samples, samples], ignore_index=True),
            missing=pd.concat(
                [measured.missing, pd.DataFrame(gaps, columns=list(MISSING_COLUMNS))],
                ignore_index=True,
            ),
            queries=queries,
            findings=findings,
            guardrail_queries={candidate: result.rows(candidate) for candidate in candidates},
        )

    def _with_cache(
        self,
        measured: Measurement,
        experiment_id: uuid.UUID,
        variants: Sequence[str],
        hosts: Sequence[str],
    ) -> Measurement:
        """The ``metrics_cache`` KPIs from the agents' samples, and what has none."""
        cached = [k for k in self.catalog.kpis if k.source is Source.METRICS_CACHE and k.cache]
        if not cached or measured.window_start is None or measured.window_end is None:
            return measured
        names = [kpi.cache.metric for kpi in cached if kpi.cache is not None]
        with self.store.session() as session:
            found = cached_metrics(
                session, experiment_id, names, measured.window_start, measured.window_end
            )
        rows = pd.DataFrame(found, columns=list(derived.CACHE_COLUMNS))
        samples = derived.cache_samples(
            self.catalog, rows, measured.window_start, measured.window_end
        )
        have = set(zip(samples["kpi"], samples["variant"], samples["host"], strict=True))
        gaps = [
            (
                kpi.name,
                variant,
                host,
                f"the agent sent no {kpi.cache.metric} samples within the window",
            )
            for kpi in cached
            if kpi.cache is not None
            for variant in variants
            for host in hosts
            if (kpi.name, variant, host) not in have
        ]
        queries = dict(measured.queries)
        for kpi in cached:
            assert kpi.cache is not None
            queries[kpi.name] = (
                f"metrics cache: {kpi.cache.metric} of each collector, {kpi.cache.reduce.value}"
            )
        missing = pd.DataFrame(gaps, columns=list(MISSING_COLUMNS))
        return replace(
            measured,
            samples=pd.concat([measured.samples, samples], ignore_index=True),
            missing=pd.concat([measured.missing, missing], ignore_index=True),
            queries=queries,
        )

    def stored_measurement(self, experiment_id: uuid.UUID) -> Measurement:
        """The samples, gaps and queries stored with the experiment's last analysis."""
        with self.store.session() as session:
            repository = AnalysisRepository(session)
            analysis = repository.get(experiment_id)
            rows = repository.rows(experiment_id, per_host=True)
        if analysis is None:
            raise Conflict(f"Experiment {experiment_id} has no stored analysis.")
        frames = [
            pd.DataFrame(
                {
                    "kpi": row.kpi,
                    "variant": row.variant,
                    "host": row.host,
                    "timestamp": pd.to_datetime(row.details["samples"]["t"], unit="s", utc=True),
                    "value": row.details["samples"]["v"],
                }
            )
            for row in rows
            if "samples" in row.details
        ]
        samples = pd.concat([derived.empty_samples(), *frames], ignore_index=True)
        return Measurement(
            samples=samples,
            missing=pd.DataFrame(analysis.missing, columns=list(MISSING_COLUMNS)),
            queries={row.kpi: row.query for row in rows},
            window_start=analysis.window_start,
            window_end=analysis.window_end,
            findings={
                row.variant: list(row.details["findings"])
                for row in rows
                if "findings" in row.details
            },
            guardrail_queries={
                row.variant: list(row.details["queries"])
                for row in rows
                if "queries" in row.details
            },
        )

    @property
    def _guardrail_kpi(self) -> str:
        kpis = [k.name for k in self.catalog.kpis if k.derived is Derived.QUERIES_PRESERVED]
        return kpis[0] if kpis else ""

    # --- rows --------------------------------------------------------------------------------

    def _row(
        self,
        measurement: Measurement,
        kpi: str,
        variant: str,
        host: str | None,
        value: float | None,
        **more: Any,
    ) -> KpiRow:
        """A row over the measurement's window, with the KPI's unit and query."""
        assert measurement.window_start is not None and measurement.window_end is not None
        return KpiRow(
            variant=variant,
            host=host,
            kpi=kpi,
            value=value,
            unit=self.catalog.get(kpi).unit,
            query=measurement.queries.get(kpi, ""),
            window_start=measurement.window_start,
            window_end=measurement.window_end,
            **more,
        )

    def _host_rows(self, measurement: Measurement) -> Iterable[KpiRow]:
        """Per variant and host: the median over the window and the raw samples, or why not."""
        ordered = measurement.samples.sort_values("timestamp", kind="stable")
        for (kpi, variant, host), group in ordered.groupby(["kpi", "variant", "host"], sort=True):
            times = (group["timestamp"].astype("int64") / 1e9).round(3).tolist()
            samples = {"t": times, "v": group["value"].tolist()}
            median = float(group["value"].median())
            details: dict[str, Any] = {"n": len(group), "samples": samples}
            details |= self._guardrail_details(measurement, str(kpi), str(variant))
            yield self._row(measurement, str(kpi), str(variant), str(host), median, details=details)
        for gap in measurement.missing.itertuples(index=False):
            details = {"n": 0, "missing": str(gap.reason)}
            details |= self._guardrail_details(measurement, str(gap.kpi), str(gap.variant))
            yield self._row(
                measurement, str(gap.kpi), str(gap.variant), str(gap.host), None, details=details
            )

    def _guardrail_details(
        self, measurement: Measurement, kpi: str, variant: str
    ) -> dict[str, Any]:
        """A candidate's guardrail findings in words and each query's comparison, kept with
        its ``queries_preserved`` row whether it has a value or not."""
        if kpi != self._guardrail_kpi or variant not in measurement.guardrail_queries:
            return {}
        return {
            "findings": measurement.findings.get(variant, []),
            "queries": measurement.guardrail_queries[variant],
        }

    def _verdict_rows(
        self, verdict: Verdict, baseline: str, measurement: Measurement
    ) -> Iterable[KpiRow]:
        """Per variant over its hosts: the baseline's centre, each candidate's comparison."""
        for kpi, rows in verdict.kpis.groupby("kpi", sort=False):
            first = rows.iloc[0]
            details = {"role": "baseline", "n": int(first["n_baseline"])}
            centre = _number(first["baseline_centre"])
            yield self._row(measurement, str(kpi), baseline, None, centre, details=details)
            for row in rows.to_dict("records"):
                yield self._row(
                    measurement,
                    str(kpi),
                    str(row["variant"]),
                    None,
                    _number(row["candidate_centre"]),
                    change_percent=_percent(row["relative_change"]),
                    ci_low=_percent(row["relative_change_low"]),
                    ci_high=_percent(row["relative_change_high"]),
                    p_value=_number(row["p_value"]),
                    details={"role": "candidate", **_json(row)},
                )


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN and infinities are no number in JSON)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _percent(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else number * 100


def _json(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, float):
            out[str(key)] = _number(value)
        elif hasattr(value, "item"):  # numpy scalars
            item = value.item()
            out[str(key)] = _number(item) if isinstance(item, float) else item
        else:
            out[str(key)] = value
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict("records")]
