"""An analysed experiment with KPI samples, for the Experiment detail page's browser tests and
benchmark: like ``support.dashboards.completed_with_analysis`` (a draft taken to ``completed``
in the store, its analysis stored as the controller leaves it), and with what that one lacks:
per variant and host, each KPI's raw samples (``details.samples``, as ``…/kpis?samples=true``
serves them), the ``host_balance`` rows, the gates and each comparison's gate outcome.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from phoenix_core.lifecycle import Verdict
from phoenix_core.store.analyses import AnalysisRecord, KpiRow
from support.dashboards import store_completed

__all__ = ["KPIS", "analysed_with_samples"]

KPIS = [
    ("active_series", "series", 805.0, "lower", 0.2),
    ("samples_per_second", "samples/s", 80.5, "lower", None),
    ("bytes_per_second", "B/s", 2_000.0, "lower", None),
    ("collector_cpu_cores", "cores", 0.05, "lower", 0.1),
    ("collector_rss_bytes", "bytes", 6.0e7, "lower", None),
    ("critical_coverage", "%", 100.0, "higher", 0.0),
    ("scrape_duration_seconds", "s", 0.02, "lower", None),
    ("dropped_samples_per_second", "samples/s", 0.5, "lower", None),
]
"""(KPI, unit, the baseline's level, the better direction, the gate's bound: a fraction
(min_improvement for series and CPU, max_worsening 0 for coverage), None: reported only)."""
STEP = 2.0
"""Seconds between samples."""


def _gate(kpi: str, unit: str, direction: str, bound: float | None) -> dict[str, Any] | None:
    if bound is None:
        return None
    key = "max_worsening" if direction == "higher" else "min_improvement"
    return {"kpi": kpi, "unit": unit, "direction": direction, key: bound}


def analysed_with_samples(
    database_url: str,
    experiment_id: str,
    *,
    changes: dict[str, float],
    kpis: int = 3,
    points: int = 200,
    hosts: tuple[str, ...] = ("web-2",),
) -> None:
    """Take a draft to ``completed`` (verdict pass, the first candidate the winner) and store
    an analysis of the first ``kpis`` of ``KPIS``: every variant's ``points`` samples per host
    (a slow wave around its level: the baseline's, each candidate's moved by its change in %),
    each candidate's change with a ±2-point interval against the gates."""
    ident = uuid.UUID(experiment_id)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(seconds=STEP * (points - 1))
    variants = {"baseline": 0.0, **changes}
    rows: list[KpiRow] = []
    gates = []
    winner = next(iter(changes))
    for kpi, unit, level, direction, bound in KPIS[:kpis]:
        gate = _gate(kpi, unit, direction, bound)
        if gate:
            gates.append(gate)
        common = {"kpi": kpi, "unit": unit, "query": f'sum({kpi}{{experiment="{ident}"}})',
                  "window_start": start, "window_end": end}  # fmt: skip
        rows.append(KpiRow(variant="baseline", host=None, value=level,
                           details={"role": "baseline", "n": points}, **common))  # fmt: skip
        for variant, change in changes.items():
            moved = change if direction == "lower" else 0.0
            rows.append(
                KpiRow(
                    variant=variant,
                    host=None,
                    value=level * (1 + moved / 100),
                    change_percent=moved,
                    ci_low=moved - 2,
                    ci_high=moved + 2,
                    p_value=0.001,
                    details={
                        "role": "candidate",
                        "n": points,
                        "outcome": "pass" if gate else "reported",
                        "reason": f"{kpi}: {moved:+.1f} %",
                    },
                    **common,
                )
            )
        for variant, change in variants.items():
            moved = change if direction == "lower" else 0.0
            for h, host in enumerate(hosts):
                t0 = start.timestamp() + 0.3 * h
                times = [round(t0 + i * STEP, 3) for i in range(points)]
                centre = level * (1 + moved / 100)
                values = [centre * (1 + 0.05 * math.sin(i / 25 + h)) for i in range(points)]
                rows.append(
                    KpiRow(
                        variant=variant,
                        host=host,
                        value=centre,
                        details={"n": points, "samples": {"t": times, "v": values}},
                        **common,
                    )
                )
    for variant in variants:
        rows.append(
            KpiRow(
                variant=variant,
                host="*",
                kpi="host_balance",
                unit="%",
                value=100.0,
                query="",
                window_start=start,
                window_end=end,
                details={},
            )
        )
    reasons = [f"{winner} keeps the gates"]
    analysis = AnalysisRecord(
        experiment_id=ident,
        outcome=Verdict.PASS.value,
        winner=winner,
        reasons=reasons,
        candidates=[
            {
                "variant": v,
                "outcome": "pass",
                "reasons": [f"{v} keeps every gate"],
                "notes": [f"{v}: CPU within the tolerance"],
            }
            for v in changes
        ],
        gates=gates,
        missing=[],
        window_start=start,
        window_end=end,
        source="measurements",
        computed_by="test",
        computed_at=end,
    )
    store_completed(database_url, analysis, rows)
